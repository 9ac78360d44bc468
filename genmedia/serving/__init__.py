"""The Ray Serve application: built from the config (app.py), with HTTP security (security.py) and model servers (models.py)."""
