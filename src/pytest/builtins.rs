//! Fixtures pytest and its common plugins provide, so requests for them are
//! resolved, not reported as unknown.

/// pytest's own fixtures.
pub const PYTEST: &[&str] = &[
    "cache",
    "capfd",
    "capfdbinary",
    "caplog",
    "capsys",
    "capsysbinary",
    "capteesys",
    "doctest_namespace",
    "monkeypatch",
    "pytestconfig",
    "record_property",
    "record_testsuite_property",
    "record_xml_attribute",
    "recwarn",
    "request",
    "subtests",
    "testdir",
    "pytester",
    "tmp_path",
    "tmp_path_factory",
    "tmpdir",
    "tmpdir_factory",
    "_config_for_test",
    "_sys_snapshot",
    "linecomp",
    "tw_mock",
    "event_loop",
    "event_loop_policy",
    "unused_tcp_port",
    "unused_tcp_port_factory",
    "unused_udp_port",
    "unused_udp_port_factory",
];

/// Fixtures of widely used plugins (xdist, mock, asyncio, django, httpx...).
pub const PLUGINS: &[&str] = &[
    "worker_id",
    "testrun_uid",
    "mocker",
    "class_mocker",
    "module_mocker",
    "package_mocker",
    "session_mocker",
    "benchmark",
    "aiohttp_client",
    "aiohttp_server",
    "aiohttp_unused_port",
    "anyio_backend",
    "client",
    "admin_client",
    "admin_user",
    "django_user_model",
    "django_username_field",
    "db",
    "transactional_db",
    "django_db_setup",
    "django_db_blocker",
    "live_server",
    "rf",
    "settings",
    "httpx_mock",
    "requests_mock",
    "respx_mock",
    "freezer",
    "time_machine",
    "snapshot",
    "faker",
    "cov",
    "no_cover",
    "datadir",
    "shared_datadir",
    "original_datadir",
    "xprocess",
    "loop",
    "httpserver",
    "httpserver_listen_address",
    "httpbin",
    "httpbin_secure",
    "httpbin_both",
    "httpbin_ca_bundle",
    "class_based_httpbin",
    "class_based_httpbin_secure",
    "redisdb",
    "redis_proc",
    "postgresql",
    "postgresql_proc",
    "qtbot",
    "qapp",
    "hypothesis",
    "subtests",
    "page",
    "browser",
    "context",
    "capture",
    "monkeysession",
];

pub fn is_known(name: &str) -> bool {
    PYTEST.contains(&name) || PLUGINS.contains(&name)
}

/// Fixtures whose value is unique per test or per worker.
pub fn gives_unique_value(name: &str) -> bool {
    matches!(
        name,
        "tmp_path"
            | "tmpdir"
            | "tmp_path_factory"
            | "tmpdir_factory"
            | "worker_id"
            | "testrun_uid"
            | "unused_tcp_port"
            | "unused_tcp_port_factory"
            | "unused_udp_port"
            | "unused_udp_port_factory"
            | "aiohttp_unused_port"
            | "pytester"
            | "testdir"
            | "postgresql"
            | "redisdb"
            | "httpserver"
            | "live_server"
    )
}
