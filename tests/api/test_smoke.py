def test_health_and_default_environment(api):
    assert api.get("/api/health").json()["status"] == "ok"
    envs = api.get("/api/v1/environments").json()
    assert "default" in [e["name"] for e in envs]
