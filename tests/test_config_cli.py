"""`columba config` and configuration errors as an administrator meets
them."""
import os
import subprocess

from conftest import columba_binary


def run(args, **kw):
    return subprocess.run([columba_binary()] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=20, **kw)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_config_dump_and_non_default(tmp_path):
    conf = write(tmp_path / "c.conf", "login_greeting = Hello there\n"
                 "service imap-login {\n  inet_listener imap {\n"
                 "    port = 10143\n  }\n}\n")
    p = run(["config", "-c", str(conf)])
    assert p.returncode == 0, p.stderr
    full = p.stdout.decode()
    assert full.startswith("# columba ")
    assert "login_greeting = Hello there" in full
    assert "ssl_min_protocol = TLSv1.2" in full
    p = run(["config", "-n", "-c", str(conf)])
    assert p.returncode == 0
    short = p.stdout.decode()
    assert "login_greeting = Hello there" in short
    assert "port = 10143" in short
    assert "ssl_min_protocol" not in short
    # the full dump parses back to the same configuration
    again = write(tmp_path / "again.conf", full)
    p2 = run(["config", "-c", str(again)])
    assert p2.returncode == 0, p2.stderr
    assert p2.stdout.decode().split("\n", 1)[1] == full.split("\n", 1)[1]


def test_unknown_setting_stops_startup(tmp_path):
    conf = write(tmp_path / "c.conf", "base_dir = %s\n\nssl_certt = x\n"
                 % (tmp_path / "run"))
    p = run(["-F", "-c", str(conf)])
    assert p.returncode == 89
    err = p.stderr.decode()
    assert "%s:3: Unknown setting: ssl_certt" % conf in err, err
    assert "ssl_cert" in err


def test_bad_value_names_what_was_expected(tmp_path):
    conf = write(tmp_path / "c.conf", "service imap-login {\n"
                 "  inet_listener imap {\n    port = 99999\n  }\n}\n")
    p = run(["config", "-c", str(conf)])
    assert p.returncode == 89
    err = p.stderr.decode()
    assert "%s:3:" % conf in err and "99999" in err, err


def test_env_and_include(tmp_path):
    inc = tmp_path / "conf.d"
    inc.mkdir()
    write(inc / "10-greeting.conf", "login_greeting = $ENV:GREETING_TEXT\n")
    conf = write(tmp_path / "c.conf", "!include conf.d/*.conf\n")
    env = dict(os.environ, GREETING_TEXT="From the environment")
    p = run(["config", "-n", "-c", str(conf)], env=env)
    assert p.returncode == 0, p.stderr
    assert "login_greeting = From the environment" in p.stdout.decode()


def test_missing_config_file(tmp_path):
    p = run(["-F", "-c", str(tmp_path / "nope.conf")])
    assert p.returncode == 89
    assert "nope.conf" in p.stderr.decode()
