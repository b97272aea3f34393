from pathlib import Path

import pytest

from vahti.config import load_config
from vahti.errors import VahtiError


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_precedence_flag_over_env_over_file_over_default(tmp_path):
    home = tmp_path / "h"
    write_config(home, '[storage]\ndatabase = "from_file"\nconnect_timeout_s = 3\n'
                       '[matchers]\nphone_region = "SE"\n')
    env = {"VAHTI_HOME": str(home), "VAHTI_MONGO_DB": "from_env"}
    cfg = load_config(environ=env, flags={"storage.database": ("from_flag", "--database")})
    assert cfg.get("storage.database") == "from_flag"
    assert cfg.origins["storage.database"] == "flag --database"
    cfg = load_config(environ=env)
    assert cfg.get("storage.database") == "from_env"
    assert cfg.origins["storage.database"] == "env VAHTI_MONGO_DB"
    assert cfg.get("matchers.phone_region") == "SE"
    assert cfg.origins["matchers.phone_region"] == "config.toml"
    assert cfg.get("storage.connect_timeout_s") == 3.0  # int in TOML, float setting
    assert cfg.get("log.level") == "INFO"
    assert cfg.origins["log.level"] == "default"


def test_generic_environment_names_and_types(tmp_path):
    env = {"VAHTI_HOME": str(tmp_path), "VAHTI_STORAGE_CONNECT_TIMEOUT_S": "2.5"}
    cfg = load_config(environ=env)
    assert cfg.get("storage.connect_timeout_s") == 2.5
    with pytest.raises(VahtiError, match="storage.connect_timeout_s must be a float"):
        load_config(environ={"VAHTI_HOME": str(tmp_path),
                             "VAHTI_STORAGE_CONNECT_TIMEOUT_S": "soon"})


def test_home_precedence(tmp_path):
    cfg = load_config(home_flag=str(tmp_path / "a"), environ={"VAHTI_HOME": str(tmp_path / "b")})
    assert cfg.home == tmp_path / "a" and cfg.home_origin == "flag --home"
    cfg = load_config(environ={"VAHTI_HOME": str(tmp_path / "b")})
    assert cfg.home == tmp_path / "b" and cfg.home_origin == "env VAHTI_HOME"
    cfg = load_config(environ={})
    assert cfg.home_origin == "default" and cfg.home.name == "vahti"


def test_show_hides_credentials(tmp_path):
    env = {"VAHTI_HOME": str(tmp_path),
           "VAHTI_MONGO_URI": "mongodb://alice:s3cr3tpw@db.example:27017/?replicaSet=rs0"}
    shown = {k: v for k, v, _ in load_config(environ=env).shown()}
    assert "s3cr3tpw" not in repr(shown) and "alice" not in repr(shown)
    assert shown["storage.uri"] == "mongodb://***@db.example:27017/?replicaSet=rs0"


def test_unknown_settings_warn_and_bad_toml_is_an_error(tmp_path):
    write_config(tmp_path, "[storage]\ndatabse = 'x'\n[nonsense]\na = 1\n")
    cfg = load_config(environ={"VAHTI_HOME": str(tmp_path)})
    assert any("storage.databse" in w for w in cfg.warnings)
    assert any("[nonsense]" in w for w in cfg.warnings)
    write_config(tmp_path, "[storage\n")
    with pytest.raises(VahtiError, match="not valid TOML"):
        load_config(environ={"VAHTI_HOME": str(tmp_path)})


def test_key_path_default_and_env(tmp_path):
    assert load_config(environ={"VAHTI_HOME": str(tmp_path)}).key_path == tmp_path / "key"
    env = {"VAHTI_HOME": str(tmp_path), "VAHTI_KEY_FILE": str(tmp_path / "k2")}
    assert load_config(environ=env).key_path == tmp_path / "k2"
