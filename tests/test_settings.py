"""dashboard.settings: config.toml lookup, overrides, validation messages, secrets.

Every test passes its own ``env`` mapping and works in tmp_path; the autouse
fixture in conftest.py also gives each test a private HOME and working
directory, so the developer's own config is never read.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from dashboard.settings import (
    DEFAULT_DEMO_USERS,
    DEFAULT_URL,
    ConfigError,
    DemoUser,
    TbdashSettings as Settings,
    find_config_file,
    load_settings,
)
from limiter.config import BucketConfig
from dashboard.connection import describe_target as describe, parse_target as parse_url

CANARY = "s3cr3t-CANARY-pw"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(excinfo: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return excinfo.value.problems


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private HOME and working directory; the returned env has only HOME."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"HOME": str(tmp_path / "home")}


# --------------------------------------------------------------------------- defaults and the shipped file


def test_defaults_without_any_file(home: dict[str, str]) -> None:
    settings = load_settings(env=home)
    assert settings.source_file is None
    assert settings.redis.url == DEFAULT_URL
    assert settings.limiter.prefix == "token_bucket"
    assert settings.limiter.on_error == "raise"
    assert settings.limiter.default == BucketConfig(max_tokens=10, burst=5, refill_count=1, refill_interval=1.0)
    assert settings.dashboard.poll_interval == 1.0
    assert settings.dashboard.read_only is False
    assert [u.name for u in settings.demo.users] == [u.name for u in DEFAULT_DEMO_USERS]
    assert describe(settings.connection_spec()) == "standalone 127.0.0.1:6379 db 0"


def test_shipped_config_loads_and_equals_the_defaults(repo_root: Path) -> None:
    shipped = load_settings(repo_root / "config.toml", env={})
    assert shipped.model_dump() == Settings().model_dump()
    assert 6 <= len(shipped.demo.users) <= 8
    assert {u.traffic for u in shipped.demo.users} == {"steady", "bursty", "idle", "throttled"}
    assert shipped.redis.url == "redis://127.0.0.1:6379/0"


def _keys(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _keys(arg)
    return names


def test_shipped_config_documents_every_key(repo_root: Path) -> None:
    text = (repo_root / "config.toml").read_text()

    def documented(key: str) -> bool:
        # `key = ...` (active or commented out) or a [section] / [[array]] header.
        return re.search(rf"^[#\s]*(\[\[?([\w.]+\.)?{key}\]|{key}\s*=)", text, re.MULTILINE) is not None

    assert [key for key in sorted(_keys(Settings)) if not documented(key)] == []
    for mode in ("sentinel", "cluster", "embedded"):
        assert f'mode = "{mode}"' in text
    for scheme in ("redis+sentinel://", "redis+cluster://", "embedded://", "rediss://", "unix://"):
        assert scheme in text


def test_shipped_demo_users_are_the_built_in_ones(repo_root: Path) -> None:
    shipped = load_settings(repo_root / "config.toml", env={})
    assert shipped.demo.users == list(DEFAULT_DEMO_USERS)


# --------------------------------------------------------------------------- lookup order


def test_lookup_order(tmp_path: Path, home: dict[str, str]) -> None:
    env = dict(home, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    xdg = write(tmp_path / "xdg" / "tbdash" / "config.toml", '[limiter]\nprefix = "xdg"\n')
    assert load_settings(env=env).limiter.prefix == "xdg"
    assert load_settings(env=env).source_file == xdg

    write(Path("config.toml"), '[limiter]\nprefix = "cwd"\n')
    assert load_settings(env=env).limiter.prefix == "cwd"
    assert load_settings(env=env).source_file == Path("config.toml")

    named = write(tmp_path / "named.toml", '[limiter]\nprefix = "by_env"\n')
    assert load_settings(env=dict(env, TBDASH_CONFIG=str(named))).limiter.prefix == "by_env"

    flag = write(tmp_path / "flag.toml", '[limiter]\nprefix = "by_flag"\n')
    assert load_settings(flag, env=dict(env, TBDASH_CONFIG=str(named))).limiter.prefix == "by_flag"
    assert load_settings(str(flag), env=env).source_file == flag


def test_home_config_without_xdg(tmp_path: Path, home: dict[str, str]) -> None:
    write(Path(home["HOME"]) / ".config" / "tbdash" / "config.toml", '[limiter]\nprefix = "home"\n')
    assert load_settings(env=home).limiter.prefix == "home"
    # A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    assert load_settings(env=dict(home, XDG_CONFIG_HOME="relative")).limiter.prefix == "home"


def test_find_config_file_reports_who_named_it(tmp_path: Path, home: dict[str, str]) -> None:
    assert find_config_file(None, home) == (None, None)
    assert find_config_file(tmp_path / "x.toml", home).named_by == "--config"
    assert find_config_file(None, dict(home, TBDASH_CONFIG="y.toml")) == (Path("y.toml"), "TBDASH_CONFIG")


def test_explicitly_named_missing_file_is_an_error(tmp_path: Path, home: dict[str, str]) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(missing, env=home)
    assert problems(info) == [f"{missing}: config file not found (named by --config)"]
    with pytest.raises(ConfigError, match="nope.toml: config file not found \\(named by TBDASH_CONFIG\\)"):
        load_settings(env=dict(home, TBDASH_CONFIG=str(missing)))
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, env=home)


# --------------------------------------------------------------------------- overrides


def test_env_overrides_file_and_flags_override_env(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(
        tmp_path / "c.toml",
        '[redis]\nurl = "redis://file:6379/0"\n[limiter]\nprefix = "file"\n[dashboard]\npoll_interval = 2.0\n',
    )
    env = dict(home, TBDASH_REDIS__URL="redis://env:6379/0", TBDASH_LIMITER__PREFIX="env", TBDASH_DASHBOARD__POLL_INTERVAL="0.5")
    settings = load_settings(config, env=env)
    assert (settings.redis.url, settings.limiter.prefix, settings.dashboard.poll_interval) == ("redis://env:6379/0", "env", 0.5)

    flags = {"redis.url": "redis://flag:6379/0", "limiter": {"prefix": "flag"}, "dashboard.read_only": True}
    settings = load_settings(config, env=env, overrides=flags)
    assert (settings.redis.url, settings.limiter.prefix, settings.dashboard.read_only) == ("redis://flag:6379/0", "flag", True)
    assert settings.dashboard.poll_interval == 0.5

    # argparse leaves unset flags at None: they override nothing.
    settings = load_settings(config, env={}, overrides={"redis.url": None, "limiter.prefix": None, "dashboard.read_only": None})
    assert (settings.redis.url, settings.limiter.prefix, settings.dashboard.read_only) == ("redis://file:6379/0", "file", False)


def test_env_names_are_case_insensitive_and_values_are_toml(home: dict[str, str]) -> None:
    env = dict(
        home,
        tbdash_limiter__On_Error="deny",
        TBDASH_LIMITER__DEFAULT__MAX_TOKENS="20",
        TBDASH_LIMITER__DEFAULT__REFILL_INTERVAL="0.25",
        TBDASH_DASHBOARD__READ_ONLY="true",
        TBDASH_DASHBOARD__THEME='"nord"',  # a quoted TOML string loses its quotes
        TBDASH_LIMITER__PREFIX="123",  # a string field keeps digits as text
    )
    settings = load_settings(env=env)
    assert settings.limiter.on_error == "deny"
    # One key of [limiter.default] changes; the others keep the built-in default.
    assert settings.limiter.default == BucketConfig(max_tokens=20, burst=5, refill_count=1, refill_interval=0.25)
    assert settings.dashboard.read_only is True
    assert settings.dashboard.theme == "nord"
    assert settings.limiter.prefix == "123"


def test_env_lists_accept_toml_arrays_or_commas(home: dict[str, str]) -> None:
    env = dict(home, TBDASH_REDIS__MODE="cluster", TBDASH_REDIS__NODES="a:7000, b:7001")
    assert load_settings(env=env).redis.nodes == ["a:7000", "b:7001"]
    env["TBDASH_REDIS__NODES"] = '["a:7000", "c:7002"]'
    assert load_settings(env=env).redis.nodes == ["a:7000", "c:7002"]


def test_variables_that_are_not_overrides_are_ignored(home: dict[str, str]) -> None:
    env = dict(home, TBDASH_REDIS_PASSWORD="x", TBDASH_SERVER="y", OTHER__THING="z")
    assert load_settings(env=env).model_dump() == Settings().model_dump()


def test_url_override_replaces_the_files_connection_table(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(
        tmp_path / "c.toml",
        '[redis]\nmode = "sentinel"\nsentinels = ["a:26379"]\nservice_name = "m"\nsocket_timeout = 0.5\n',
    )
    settings = load_settings(config, env=home, overrides={"redis.url": "redis://other:6380/1"})
    spec = settings.connection_spec()
    assert describe(spec) == "standalone other:6380 db 1"
    assert spec.socket_timeout == 0.5  # keys that are not about WHERE stay
    embedded = load_settings(config, env=dict(home, TBDASH_REDIS__MODE="embedded"))
    assert embedded.connection_spec().mode == "embedded"


# --------------------------------------------------------------------------- error messages


def test_bad_value_names_file_and_field(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / "config.toml", "[limiter.default]\nmax_tokens = 10\nburst = -1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env=home)
    assert problems(info) == [f"{config}: limiter.default.burst: must be >= 0 (got -1)"]


def test_relative_config_path_is_named_as_given(home: dict[str, str]) -> None:
    write(Path("config.toml"), '[limiter]\non_error = "maybe"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(env=home)
    assert problems(info) == ["config.toml: limiter.on_error: must be one of 'raise', 'allow' or 'deny' (got 'maybe')"]


def test_every_problem_gets_its_own_line(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(
        tmp_path / "c.toml",
        "[dashboard]\npoll_interval = 0.01\nhistory_length = 'long'\nread_only = 'perhaps'\nrefresh = 1\n"
        "[dashbord]\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config, env=home)
    lines = problems(info)
    assert f"{config}: dashboard.poll_interval: must be >= 0.1 (got 0.01)" in lines
    assert f"{config}: dashboard.history_length: must be a whole number (got 'long')" in lines
    assert f"{config}: dashboard.read_only: must be true or false (got 'perhaps')" in lines
    assert any(line.startswith(f"{config}: dashboard.refresh: unknown key (allowed: poll_interval,") for line in lines)
    assert any(line.startswith(f"{config}: dashbord: unknown section; did you mean 'dashboard'?") for line in lines)
    assert str(info.value) == "\n".join(lines)


def test_env_errors_name_the_variable(home: dict[str, str]) -> None:
    env = dict(home, TBDASH_LIMITER__DEFAULT__BURST="-1", TBDASH_REDIS__SOCKET_TIMEOUT="0")
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert sorted(problems(info)) == [
        "TBDASH_LIMITER__DEFAULT__BURST: limiter.default.burst: must be >= 0 (got -1)",
        "TBDASH_REDIS__SOCKET_TIMEOUT: redis.socket_timeout: must be > 0 (got 0)",
    ]
    with pytest.raises(ConfigError, match="^TBDASH_REDIS____URL: malformed name"):
        load_settings(env=dict(home, TBDASH_REDIS____URL="x"))


def test_flag_errors_name_the_flag(home: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=home, overrides={"limiter.prefix": "a{b"})
    assert problems(info)[0].startswith("command line --prefix: limiter.prefix: invalid key prefix 'a{b'")


def test_model_level_error_names_the_section(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / "c.toml", '[redis]\nmode = "sentinel"\nsentinels = ["a:26379"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config, env=home)
    assert problems(info) == [f"{config}: redis: mode = 'sentinel' needs service_name"]


def test_demo_user_errors_point_at_the_entry(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(
        tmp_path / "c.toml",
        '[[demo.users]]\nname = "a"\nmax_tokens = 5\ntraffic = "idle"\n'
        '[[demo.users]]\nname = "b"\ntraffic = "steady"\nrate = 1\n',
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config, env=home)
    assert problems(info) == [f"{config}: demo.users[1].max_tokens: is required"]


@pytest.mark.parametrize(
    ("toml", "line", "column"),
    [
        ("[redis]\nurl = redis://h\n", 2, 7),
        ("[limiter]\nprefix = 'x'\nprefix = 'y'\n", 3, 13),
        ("[dashboard\n", 1, 11),
    ],
)
def test_toml_syntax_error_names_line_and_column(tmp_path: Path, home: dict[str, str], toml: str, line: int, column: int) -> None:
    config = write(tmp_path / "c.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config, env=home)
    (message,) = problems(info)
    assert message.startswith(f"{config}: line {line}, column {column}: invalid TOML: ")


def test_file_that_is_not_utf8(tmp_path: Path, home: dict[str, str]) -> None:
    config = tmp_path / "c.toml"
    config.write_bytes(b"[limiter]\nprefix = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(config, env=home)


# --------------------------------------------------------------------------- secrets


def _all_output(settings: Settings) -> str:
    spec = settings.connection_spec()
    return " ".join([repr(settings), str(settings), repr(spec), str(spec), describe(spec), spec.to_url(), str(settings.model_dump())])


@pytest.mark.parametrize(
    "toml",
    [
        f'[redis]\nurl = "redis://:{CANARY}@h:abc/0"\n',  # bad port in a URL with a password
        f'[redis]\npassword = "{CANARY}"\npassword_file = "/x"\n',  # both given
        f'[redis]\npasword = "{CANARY}"\n',  # a typo: the unknown key's value is not shown
        "[redis]\npassword = 12345678\n",  # wrong type: still not shown
        f'[redis]\nsentinel_password = "{CANARY}"\n',  # sentinel options outside sentinel mode
        f'[redis]\nurl = "redis://h/0?password={CANARY}&bogus=1"\n',
    ],
)
def test_errors_never_show_passwords(tmp_path: Path, home: dict[str, str], toml: str) -> None:
    config = write(tmp_path / "c.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config, env=home)
    assert CANARY not in str(info.value)
    assert "12345678" not in str(info.value)
    assert all(line.startswith(f"{config}: redis") for line in problems(info))


def test_env_password_override_is_never_shown(home: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=dict(home, TBDASH_REDIS__URL=f"redis://:{CANARY}@h:x/0"))
    assert problems(info)[0].startswith("TBDASH_REDIS__URL: redis.url: invalid Redis URL 'redis://:***@h:x/0'")
    assert CANARY not in str(info.value)


def test_raw_validation_errors_hide_their_input() -> None:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"redis": {"password": CANARY, "mode": "bad"}})
    assert CANARY not in str(info.value)


def test_password_from_url(home: dict[str, str]) -> None:
    settings = load_settings(env=dict(home, TBDASH_REDIS__URL=f"redis://:{CANARY}@h/0", TBDASH_REDIS_PASSWORD="env"))
    assert settings.connection_spec().password == SecretStr(CANARY)
    assert CANARY not in _all_output(settings)


def test_password_from_file_relative_to_the_config(tmp_path: Path, home: dict[str, str]) -> None:
    write(tmp_path / "conf" / "secrets" / "pw", CANARY + "\n")
    config = write(tmp_path / "conf" / "c.toml", '[redis]\npassword_file = "secrets/pw"\nusername = "ops"\n')
    settings = load_settings(config, env=dict(home, TBDASH_REDIS_PASSWORD="env"))
    spec = settings.connection_spec()
    assert spec.password == SecretStr(CANARY) and spec.username == "ops"
    assert CANARY not in _all_output(settings)


def test_password_from_env(home: dict[str, str], tmp_path: Path) -> None:
    assert load_settings(env=dict(home, TBDASH_REDIS_PASSWORD=CANARY)).connection_spec().password == SecretStr(CANARY)
    config = write(tmp_path / "c.toml", '[redis]\npassword_env = "MY_REDIS_PW"\n')
    settings = load_settings(config, env=dict(home, MY_REDIS_PW=CANARY, TBDASH_REDIS_PASSWORD="not-this"))
    assert settings.connection_spec().password == SecretStr(CANARY)
    assert CANARY not in _all_output(settings)
    assert load_settings(env=home).connection_spec().password is None


def test_password_env_override_keeps_the_value_verbatim(home: dict[str, str]) -> None:
    # TOML parsing must not turn a password of digits into a number, or unquote it.
    for secret in ("12345", '"quoted"', "true"):
        settings = load_settings(env=dict(home, TBDASH_REDIS__PASSWORD=secret))
        assert settings.connection_spec().password == SecretStr(secret)


def test_unreadable_password_file_names_field_not_content(tmp_path: Path, home: dict[str, str]) -> None:
    config = write(tmp_path / "c.toml", '[redis]\npassword_file = "missing-pw"\n')
    settings = load_settings(config, env=home)  # read when connecting, not when loading
    with pytest.raises(ConfigError) as info:
        settings.connection_spec()
    assert problems(info)[0].startswith(f"{config}: redis.password_file: cannot read password file {tmp_path / 'missing-pw'}")


def test_sentinel_passwords(tmp_path: Path, home: dict[str, str]) -> None:
    write(tmp_path / "spw", "sentinel-secret\n")
    config = write(
        tmp_path / "c.toml",
        '[redis]\nmode = "sentinel"\nsentinels = ["a", "b:26380"]\nservice_name = "m"\n'
        f'password = "{CANARY}"\nsentinel_username = "watch"\nsentinel_password_file = "spw"\n',
    )
    spec = load_settings(config, env=home).connection_spec()
    assert spec.password == SecretStr(CANARY)
    assert spec.sentinel_password == SecretStr("sentinel-secret")
    assert spec.sentinel_username == "watch"
    env_spec = load_settings(env=dict(home, TBDASH_REDIS__URL="redis+sentinel://a/m", TBDASH_SENTINEL_PASSWORD="s")).connection_spec()
    assert env_spec.sentinel_password == SecretStr("s")


# --------------------------------------------------------------------------- [redis] forms


@pytest.mark.parametrize(
    ("table", "url"),
    [
        (
            {"mode": "sentinel", "sentinels": ["10.0.0.1:26379", "10.0.0.2"], "service_name": "mymaster", "db": 2},
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/2",
        ),
        ({"mode": "sentinel", "sentinels": "a,b", "service_name": "m", "tls": True}, "rediss+sentinel://a,b/m"),
        ({"mode": "cluster", "nodes": ["a:7000", "b:7001", "c:7002"]}, "redis+cluster://a:7000,b:7001,c:7002"),
        ({"mode": "cluster", "nodes": ["[::1]:7000"], "tls": True}, "rediss+cluster://[::1]:7000"),
        ({"mode": "embedded"}, "embedded://"),
    ],
)
def test_table_and_url_forms_are_equivalent(table: dict, url: str) -> None:
    from_table = Settings(redis=table).connection_spec(env={})
    from_url = Settings(redis={"url": url}).connection_spec(env={})
    assert from_table == from_url == parse_url(url)


def test_table_options_apply_to_a_url() -> None:
    spec = Settings(
        redis={
            "url": "rediss://h:6380/0?socket_timeout=0.2",
            "socket_timeout": 3.0,
            "connect_timeout": 0.7,
            "ssl_ca_certs": "/etc/ca.pem",
            "username": "ops",
        }
    ).connection_spec(env={})
    assert spec.socket_timeout == 0.2  # the URL's own option wins
    assert (spec.connect_timeout, spec.ssl_ca_certs, spec.username) == (0.7, "/etc/ca.pem", "ops")


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"url": "redis://h/0", "mode": "cluster"}, "url is a standalone URL but mode is 'cluster'"),
        ({"url": "redis://h/0", "nodes": ["a"]}, "nodes cannot be combined with url"),
        ({"mode": "standalone"}, "mode = 'standalone' takes url"),
        ({"mode": "cluster"}, "mode = 'cluster' needs nodes"),
        ({"mode": "cluster", "nodes": ["a"], "db": 1}, "does not take db"),
        ({"mode": "embedded", "nodes": ["a"]}, "does not take nodes"),
        ({"sentinels": ["a"]}, "sentinels needs mode = 'sentinel' or 'cluster'"),
        ({"mode": "sentinel", "sentinels": ["a:x"], "service_name": "m"}, "port 'x' of a is not a number"),
        ({"url": "redis://h/0", "ssl_ca_certs": "/ca.pem"}, "need TLS"),
        ({"url": "rediss://h/0", "ssl_certfile": "/c.pem"}, "both ssl_certfile and ssl_keyfile"),
        ({"password": "a", "password_file": "/b"}, "either password or password_file"),
        ({"socket_timeout": 0}, "greater than 0"),
    ],
)
def test_bad_redis_tables(table: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(redis=table)
    assert fragment in str(info.value)


def test_insecure_tls_is_explicit() -> None:
    spec = Settings(redis={"url": "rediss://h/0", "insecure": True}).connection_spec(env={})
    assert spec.insecure and "NO CERTIFICATE CHECKS" in describe(spec)
    assert Settings(redis={"url": "rediss://h/0"}).connection_spec(env={}).insecure is False


# --------------------------------------------------------------------------- other sections


def test_limiter_section() -> None:
    assert Settings(limiter={"on_error": "allow"}).limiter.on_error == "allow"
    with pytest.raises(ValidationError, match="invalid key prefix"):
        Settings(limiter={"prefix": "has space "})
    with pytest.raises(ValidationError, match="at least 0.001 seconds"):
        Settings(limiter={"default": {"max_tokens": 1, "refill_interval": 0.0001}})


def test_dashboard_section() -> None:
    with pytest.raises(ValidationError):
        Settings(dashboard={"history_length": 1})
    with pytest.raises(ValidationError, match="line breaks"):
        Settings(dashboard={"operator": "eve\nmallory"})
    # Who the audit records: one function in the core (it had a second, unused copy here).
    from dashboard.core.audit import operator_identity

    dashboard = Settings(dashboard={"operator": "alice"}).dashboard
    assert operator_identity(dashboard.operator, {"USER": "bob"}) == "alice"
    assert operator_identity(Settings().dashboard.operator, {"USER": "bob"}).startswith("bob@")


def test_demo_users() -> None:
    user = DemoUser(name="u", max_tokens=5, traffic="steady", rate=2)
    assert user.bucket == BucketConfig(max_tokens=5)
    assert type(user.bucket) is BucketConfig
    with pytest.raises(ValidationError, match="idle user sends no traffic"):
        DemoUser(name="u", max_tokens=5, traffic="idle", rate=1)
    with pytest.raises(ValidationError, match="needs rate > 0"):
        DemoUser(name="u", max_tokens=5, traffic="bursty")
    with pytest.raises(ValidationError, match="more than its refill rate"):
        DemoUser(name="u", max_tokens=5, refill_count=2, traffic="throttled", rate=2)
    with pytest.raises(ValidationError, match="exceed the ceiling"):
        DemoUser(name="u", max_tokens=5, burst=1, traffic="steady", rate=1, tokens=7)
    with pytest.raises(ValidationError, match="appears twice"):
        Settings(demo={"users": [{"name": "u", "max_tokens": 1, "traffic": "idle"}] * 2})
    assert Settings(demo={"users": []}).demo.users == []


def test_neither_module_imports_textual() -> None:
    code = "import sys, dashboard.settings, limiter.connect; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent).returncode == 0
