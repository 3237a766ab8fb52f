"""The review web page for data stewards (FastAPI): `custhub serve`, or mounted in Airflow's UI."""
