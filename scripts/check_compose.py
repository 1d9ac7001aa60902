"""Fallback check of docker/compose.yaml when no compose tool is available: parse it and
verify the services, health checks and start order the gateway relies on."""

from __future__ import annotations

import sys

import yaml


def main(path: str) -> None:
    with open(path) as handle:
        spec = yaml.safe_load(handle)
    services = spec["services"]
    for name in ("gateway", "postgres", "redis", "migrate"):
        assert name in services, f"service {name} missing"
    for name in ("postgres", "redis", "gateway"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    needs = services["gateway"]["depends_on"]
    assert needs["postgres"]["condition"] == "service_healthy"
    assert needs["redis"]["condition"] == "service_healthy"
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    print(f"{path}: structure ok")


if __name__ == "__main__":
    main(sys.argv[1])
