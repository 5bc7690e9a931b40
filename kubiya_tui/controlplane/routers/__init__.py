"""One FastAPI router per resource of the API contract; ``controlplane/app.py`` includes them."""
