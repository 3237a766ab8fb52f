"""Public company registries: EU VIES (SOAP, ``vies.ViesConnector``) and Czech ARES (REST v3,
``ares.AresConnector``). They answer questions about one number; they are not record sources."""
