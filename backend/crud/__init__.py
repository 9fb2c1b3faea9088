"""Data access: functions over a Session, nothing of HTTP."""
