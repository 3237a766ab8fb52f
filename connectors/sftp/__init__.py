"""Files over SFTP (paramiko), with pinned host keys."""
