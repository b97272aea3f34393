"""deploy/: the compose file parses and its parts fit together (secrets, volumes, the
torrc's subnet, vahti's tor and key settings), and the Containerfile runs what the
docs say. Nothing here builds or runs a container (see docs/server.md, "Container")."""

from __future__ import annotations

import ipaddress
import re
import tomllib

import yaml

from tests.conftest import REPO
from vahti.config import DEFAULTS, ENV_ALIASES

CONTAINER = REPO / "deploy" / "container"


def compose() -> dict:
    return yaml.safe_load((CONTAINER / "compose.yaml").read_text())


def torrc() -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in (CONTAINER / "torrc").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split(None, 1)
            options.setdefault(name, []).append(value)
    return options


def test_compose_references_fit_together():
    spec = compose()
    services = spec["services"]
    assert set(services) == {"vahti", "mongo", "tor"}
    assert services["mongo"]["image"] == "mongo:7"
    for name, service in services.items():
        for secret in service.get("secrets", []):
            source = secret["source"] if isinstance(secret, dict) else secret
            assert source in spec["secrets"], (name, source)
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (CONTAINER / host).exists(), (name, host)
            else:
                assert host in spec["volumes"], (name, host)
        for network in service.get("networks", []):
            assert network in spec["networks"], (name, network)
        build = service.get("build")
        if build:
            assert (CONTAINER / build["context"] / build["dockerfile"]).resolve() == \
                (CONTAINER / "Containerfile").resolve()
    # mongo is on the internal network only; vahti reaches tor over that network only
    assert services["mongo"]["networks"] == ["backend"] and spec["networks"]["backend"]["internal"]
    shared = set(services["vahti"]["networks"]) & set(services["tor"]["networks"])
    assert shared == {"backend"}


def test_torrc_accepts_the_backend_subnet_only():
    subnet = compose()["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    options = torrc()
    assert options["SocksPolicy"] == [f"accept {subnet}", "reject *"]
    ipaddress.ip_network(subnet)
    assert options["CookieAuthentication"] == ["1"]
    cookie_dir = options["CookieAuthFile"][0].rsplit("/", 1)[0]
    tor_mounts = compose()["services"]["tor"]["volumes"]
    vahti_mounts = compose()["services"]["vahti"]["volumes"]
    # vahti reads the cookie at the path tor reports: the same path in both containers
    assert f"tor-cookie:{cookie_dir}" in tor_mounts
    assert f"tor-cookie:{cookie_dir}:ro" in vahti_mounts


def test_vahti_settings_in_the_example_config_match_the_services():
    example = tomllib.loads((CONTAINER / "config.toml.example").read_text())
    for section, keys in example.items():
        assert set(keys) <= set(DEFAULTS[section]), section
    socks_port = torrc()["SocksPort"][0].rsplit(":", 1)[1]
    control_port = torrc()["ControlPort"][0].rsplit(":", 1)[1]
    assert example["tor"] == {"socks": f"tor:{socks_port}", "control": f"tor:{control_port}"}
    assert "@mongo:27017/" in example["storage"]["uri"]


def test_containerfile_key_home_and_command():
    text = (CONTAINER / "Containerfile").read_text()
    env = dict(re.findall(r"(VAHTI_\w+)=(\S+)", text))
    assert ENV_ALIASES["VAHTI_KEY_FILE"] == "key.file"
    assert env["VAHTI_KEY_FILE"] == "/run/secrets/vahti-key"
    assert env["VAHTI_HOME"] == "/var/lib/vahti"
    secrets = compose()["services"]["vahti"]["secrets"]
    assert {"source": "vahti-key", "target": "vahti-key"} in secrets  # /run/secrets/vahti-key
    assert {"source": "vahti-config", "target": f"{env['VAHTI_HOME']}/config.toml"} in secrets
    assert "USER vahti" in text and "--uid 10001" in text
    assert 'CMD ["/bin/sh", "-c", "vahti init && exec vahti daemon"]' in text
    assert "FROM debian:bookworm-slim" in text  # Debian 12: Python 3.11 and tor from Debian
