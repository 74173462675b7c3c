"""Writes on principals and credentials. Every function takes the acting principal (or
audit.refs.SYSTEM), runs in one transaction and records its audit event inside it."""
