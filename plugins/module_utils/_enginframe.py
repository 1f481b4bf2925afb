# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the enginframe_config module (private: not a public API).

Renders the EnginFrame installer's answer file ``efinstall.config`` (a Java properties file) from the
module's settings, reads one back, checks its keys against the keys the installer is documented to
read, and masks its passwords for diffs. Nothing here touches the file system.

The installer runs unattended as ``java -jar enginframe-<version>.jar --batch -f efinstall.config``:
"Batch Installation", NICE EnginFrame Administrator Guide,
https://docs.aws.amazon.com/enginframe/latest/ag/section-installation.html
(source: github.com/awsdocs/enginframe-administrator-guide, doc_source/section-installation.md).
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------------------------------------------
# The keys the installer reads.
#
# [GEN] an efinstall.config written by the EnginFrame 2021.0 installer itself (its header: "This file has been
#       automaticaly generated"), every key with the installer's own comment, kept in
#       github.com/k2sebeom/hpc-connector-on-ec2, parse_config.sh. Keys the installer commented out there (hidden
#       password inputs, alternatives) are keys it reads all the same.
# [EAS] seed 001's own stack, github.com/aws-samples/enginframe-aurora-serverless, userdata/enginframe.sh: the
#       unattended install against Aurora (kernel.ef.db = other-db, kernel.ef.db.url = jdbc\:mysql\://..., the
#       database user and password, ef.jobmanager = slurm, slurm.binaries.path, the HTTPS port).
# [1C]  github.com/aws-samples/1click-hpc, enginframe/efinstall.config (other-db with
#       kernel.ef.db.savePasswordInKeystore = true).
# The Administrator Guide (above) documents the batch flags, the JDBC URL / user name / password the installer
# asks for with an external database, and the keystore for the database credentials.
# ---------------------------------------------------------------------------------------------------------------
COMPONENTS = (
    "component_enginframe", "component_kernel", "component_applets", "component_parser", "component_http",
    "component_pam", "component_ldap", "component_activedirectory", "component_rss", "component_lsf",
    "component_pbs", "component_torque", "component_sge", "component_slurm", "component_awsbatch",
    "component_dcvsm", "component_demo", "component_neutro", "component_vdi", "component_applications",
    "component_service-manager", "component_user-group-manager", "component_hpc", "component_enginframe_finalizer",
)  # [GEN], in the order of its intro-targets line

DOCUMENTED_KEYS = frozenset(
    (
        # [GEN] file, licence, location
        "efinstall.config.version", "ef.accept.eula", "kernel.eflicense", "nice.root.dir.ui",
        # [GEN] Java and the EnginFrame folders
        "kernel.java.home", "ef.spooler.dir", "ef.repository.dir", "ef.sessions.dir", "ef.data.root.dir",
        "ef.logs.root.dir", "ef.temp.root.dir", "ef.product",
        # [GEN] agent
        "kernel.agent.on.same.machine", "kernel.agent.host", "kernel.agent.rmi.port", "kernel.agent.rmi.bind.port",
        # [GEN] administrator and Tomcat ([EAS] kernel.tomcat.https.port, kernel.server.tomcat.https.ef.hostname)
        "kernel.ef.admin.user", "kernel.server.tomcat.https", "kernel.ef.tomcat.user", "kernel.ef.root.context",
        "kernel.tomcat.port", "kernel.tomcat.https.port", "kernel.tomcat.shutdown.port",
        "kernel.server.tomcat.https.ef.hostname",
        # [GEN] database ([EAS] other-db with url / admin.name / admin.password, [1C] savePasswordInKeystore)
        "kernel.ef.db", "kernel.ef.derby.db.port", "kernel.ef.db.url", "kernel.ef.db.admin.name",
        "kernel.ef.db.admin.password", "kernel.ef.db.savePasswordInKeystore", "kernel.ef.enterprise.tcp.servers",
        # [GEN] start-up and demo
        "kernel.start_enginframe_at_boot", "kernel.update_current_version", "demo.install",
        # [GEN] authentication ([EAS] pam.user)
        "default.auth.mgr", "kernel.authorization.certificate.userCertificate", "pam.service", "pam.user",
        "pam.userpw", "ldap.ldapsearch", "ldap.server", "ldap.port", "ldap.secure", "ldap.simple.auth", "ldap.base",
        "ldap.user", "ldap.userpw", "activedirectory.ldapsearch", "activedirectory.server", "activedirectory.port",
        "activedirectory.secure", "activedirectory.base", "activedirectory.bindas", "activedirectory.bindpwd",
        "activedirectory.user", "activedirectory.userpw",
        # [GEN] grid managers ([EAS] ef.jobmanager = slurm, slurm.binaries.path)
        "ef.jobmanager", "lsf.profile.file", "pbs.binaries.path", "torque.binaries.path", "sge.profile.file",
        "slurm.binaries.path", "awsbatch.cluster", "awsbatch.region", "awsbatch.profile", "awsbatch.role.arn",
        "neutro.neutro.master", "hpc.aws.profile.name", "hpc.aws.region", "hpc.aws.bucket.arn", "hpc.ssm.role.arn",
        "hpc.s3.role.arn", "hpc.pcluster.role.arn",
        # [GEN] interactive sessions
        "ef.delegate.dcvsm", "dcvsm.oauth2.url", "dcvsm.oauth2.id", "dcvsm.oauth2.psw", "dcvsm.broker.url",
        "dcvsm.no.strict.tls",
        # [GEN] "Do not modify any configuration below this line"
        "intro-targets", "progress-targets",
        *COMPONENTS,
    )
)

# Keys every unattended install of this collection writes: the ones each sample above sets, without which the
# installer would fall back to asking (a batch install cannot answer).
REQUIRED_KEYS = (
    "efinstall.config.version", "ef.accept.eula", "nice.root.dir.ui", "kernel.java.home", "kernel.ef.admin.user",
    "kernel.server.tomcat.https", "kernel.ef.tomcat.user", "kernel.ef.root.context", "kernel.tomcat.shutdown.port",
    "kernel.ef.db", "default.auth.mgr", "ef.jobmanager", "intro-targets", "progress-targets",
)

# Keys required by the value of another: (key, value test, keys it then needs).
CONDITIONAL_KEYS = (
    ("kernel.ef.db", lambda v: v == "other-db", ("kernel.ef.db.url", "kernel.ef.db.admin.name",
                                                 "kernel.ef.db.admin.password")),
    ("kernel.ef.db", lambda v: v == "derby", ("kernel.ef.derby.db.port",)),
    ("kernel.server.tomcat.https", lambda v: v == "true", ("kernel.tomcat.https.port",)),
    ("kernel.server.tomcat.https", lambda v: v == "false", ("kernel.tomcat.port",)),
    ("default.auth.mgr", lambda v: v == "pam", ("pam.service",)),
    ("ef.jobmanager", lambda v: "slurm" in v.split(","), ("slurm.binaries.path",)),
)

# The installer's "Property hidden PasswordTextInput" keys [GEN]: masked in every diff.
SECRET_KEYS = frozenset(
    ("kernel.ef.db.admin.password", "pam.userpw", "ldap.userpw", "activedirectory.bindpwd", "activedirectory.userpw",
     "dcvsm.oauth2.psw")
)
MASK = "********"

HEADER = (
    "# EnginFrame unattended installation answers, written by hpcops.aws_hpc.enginframe_config.\n"
    "# Read by: java -jar enginframe-<version>.jar --batch -f efinstall.config\n"
    "# Holds passwords: keep it mode 0600, owned by root.\n"
)

_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


# ---------------------------------------------------------------------------------------------------------------
# Escaping, as java.util.Properties.store writes and Properties.load reads:
# https://docs.oracle.com/javase/8/docs/api/java/util/Properties.html#store-java.io.Writer-java.lang.String-
# "The key and element characters #, !, =, and : are written with a preceding backslash"; a backslash is written
# as two; tab, newline, carriage return and form feed as \t \n \r \f; a leading space of the element with a
# backslash. Characters outside printable ASCII are written as \uXXXX (as store(OutputStream) does), which load()
# reads back whichever encoding the installer opens the file with.
# https://docs.oracle.com/javase/8/docs/api/java/util/Properties.html#load-java.io.Reader-
# ---------------------------------------------------------------------------------------------------------------
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f",
            "#": "\\#", "!": "\\!", "=": "\\=", ":": "\\:"}
_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def escape_value(value):
    """A value as Properties.store writes it."""
    out = []
    for index, char in enumerate(str(value)):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == " " and index == 0:
            out.append("\\ ")
        elif ord(char) < 0x20 or ord(char) > 0x7E:
            out.extend(f"\\u{unit:04x}" for unit in _utf16_units(char))
        else:
            out.append(char)
    return "".join(out)


def _utf16_units(char):
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def unescape(text):
    """Properties.load's reading of an escaped key or value; raises ValueError on a malformed \\uXXXX."""
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if char != "\\" or index >= len(text):
            out.append(char)
            continue
        char = text[index]
        index += 1
        if char == "u":
            digits = text[index:index + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise ValueError("malformed \\uXXXX escape")
            out.append(chr(int(digits, 16)))
            index += 4
        else:
            out.append(_UNESCAPES.get(char, char))
    joined = "".join(out)
    # join surrogate pairs written by escape_value
    return joined.encode("utf-16", "surrogatepass").decode("utf-16")


def render(pairs):
    """The file's text: the header, then one ``key = value`` line per pair, in order."""
    lines = [HEADER]
    for key, value in pairs:
        if not _KEY_RE.match(key):
            raise ValueError(f"'{key}' is not a property key (letters, digits, '.', '_', '-')")
        lines.append(f"{key} = {escape_value(value)}\n")
    return "".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Reading a file back
# ---------------------------------------------------------------------------------------------------------------
def logical_lines(text):
    """(first line number, last line number, joined text) of every non-blank, non-comment logical line.

    A physical line ending in an odd number of backslashes continues on the next one, whose leading white space is
    dropped (Properties.load).
    """
    physical = text.splitlines()
    index = 0
    while index < len(physical):
        first = index
        line = physical[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        joined = ""
        while _continues(line) and index < len(physical):
            joined += line[:-1]
            line = physical[index].lstrip(" \t\f")
            index += 1
        joined += line[:-1] if _continues(line) else line
        yield first + 1, index, joined


def _continues(line):
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def split_entry(line):
    """(raw key, raw value, separator) of a logical line: the key ends at the first unescaped '=', ':' or space."""
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=: \t\f":
            break
        index += 1
    key = line[:index]
    rest = line[index:].lstrip(" \t\f")
    separator = ""
    if rest[:1] in ("=", ":"):
        separator = rest[0]
        rest = rest[1:].lstrip(" \t\f")
    return key, rest, separator


def parse(text):
    """(entries, malformed): entries as (line, key, value); malformed as (line, reason), values never included."""
    entries = []
    malformed = []
    for first, _last, line in logical_lines(text):
        raw_key, raw_value, separator = split_entry(line)
        if not raw_key:
            malformed.append((first, "no key before the separator"))
            continue
        if not separator:
            malformed.append((first, "no '=' between the key and the value (expected 'key = value')"))
            continue
        try:
            key = unescape(raw_key)
            value = unescape(raw_value)
        except ValueError as exc:
            malformed.append((first, str(exc)))
            continue
        entries.append((first, key, value))
    return entries, malformed


def check_keys(text):
    """Every problem of an efinstall.config: malformed lines, undocumented or repeated keys, missing keys.

    Returns a list of messages naming lines and keys, never a value.
    """
    entries, malformed = parse(text)
    problems = [f"line {line}: malformed, {reason}" for line, reason in malformed]
    seen = {}
    for line, key, _value in entries:
        if key not in DOCUMENTED_KEYS:
            problems.append(f"line {line}: '{key}' is not a documented efinstall.config key")
        if key in seen:
            problems.append(f"line {line}: '{key}' repeats line {seen[key]} (the installer keeps only the last)")
        seen.setdefault(key, line)
    values = {key: value.strip() for _line, key, value in entries}
    needed = list(REQUIRED_KEYS)
    for key, test, requires in CONDITIONAL_KEYS:
        if key in values and test(values[key]):
            needed.extend(requires)
    for key in needed:
        if key not in values:
            problems.append(f"required key '{key}' is missing")
    if values.get("ef.accept.eula", "true") != "true":
        problems.append("'ef.accept.eula' is not 'true': the installer stops unless the licence is accepted")
    url = values.get("kernel.ef.db.url")
    if values.get("kernel.ef.db") == "other-db" and url is not None and not url.startswith("jdbc:"):
        problems.append("'kernel.ef.db.url' is not a JDBC URL (jdbc:...)")
    return problems


def mask(text):
    """The text with the value of every password key replaced by ********, for diffs (continuations included)."""
    physical = text.splitlines(keepends=True)
    for first, last, line in logical_lines(text):
        raw_key, _raw_value, _separator = split_entry(line)
        try:
            key = unescape(raw_key)
        except ValueError:
            continue
        if key in SECRET_KEYS:
            physical[first - 1] = f"{raw_key} = {MASK}\n"
            for number in range(first, last):
                physical[number] = ""
    return "".join(physical)


def keys_of(text):
    """The sorted, distinct keys of a file's text."""
    entries, _malformed = parse(text)
    return sorted({key for _line, key, _value in entries})


# ---------------------------------------------------------------------------------------------------------------
# Settings -> properties
# ---------------------------------------------------------------------------------------------------------------
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DB_NAME_RE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")


def check_settings(settings):
    """Problems of the settings, naming the settings key; values of passwords never appear."""
    problems = []
    if not settings.get("accept_eula"):
        problems.append("settings.accept_eula must be true: the batch installer stops unless the EnginFrame licence "
                        "agreement is accepted (ef.accept.eula)")
    for key in ("top_dir", "java_home", "spooler_dir", "slurm_binaries_path"):
        value = settings.get(key)
        if value and not str(value).startswith("/"):
            problems.append(f"settings.{key} must be an absolute path, got '{value}'")
    if not _CONTEXT_RE.match(settings.get("root_context") or ""):
        problems.append("settings.root_context must be 1-64 letters, digits, '_' or '-' (the web application's "
                        f"context), got '{settings.get('root_context')}'")
    for key in ("https_port", "shutdown_port", "db_port"):
        value = settings.get(key)
        if not isinstance(value, int) or not 1 <= value <= 65535:
            problems.append(f"settings.{key} must be a TCP port 1-65535, got '{value}'")
    if not _HOST_RE.match(settings.get("db_host") or ""):
        problems.append(f"settings.db_host must be a host name or address, got '{settings.get('db_host')}'")
    if not _DB_NAME_RE.match(settings.get("db_name") or ""):
        problems.append(f"settings.db_name must be 1-64 letters, digits, '_' or '$', got '{settings.get('db_name')}'")
    for key in ("db_user", "admin_user", "tomcat_user", "java_home"):
        if not settings.get(key):
            problems.append(f"settings.{key} must not be empty")
    return problems + _check_extra(settings.get("extra") or {})


def _check_extra(extra):
    problems = []
    for key in extra:
        if key not in DOCUMENTED_KEYS:
            problems.append(f"settings.extra.{key} is not a documented efinstall.config key")
        elif key in SECRET_KEYS or key in ("intro-targets", "progress-targets"):
            problems.append(f"settings.extra.{key} cannot be set through extra (a password option or the installer's "
                            "own list)")
    return problems


def jdbc_url(host, port, name):
    """The MySQL Connector/J URL of the database (as seed 001's stack writes it)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"jdbc:mysql://{host}:{port}/{name}"


def _bool(value):
    return "true" if value else "false"


def build_pairs(settings, db_password, efadmin_password=None):
    """The (key, value) pairs of the file, in the installer's order (its own generated file)."""
    top = settings["top_dir"].rstrip("/") or "/"
    ef_top = f"{top}/enginframe" if top != "/" else "/enginframe"
    pairs = [
        ("efinstall.config.version", "1.0"),
        ("ef.accept.eula", _bool(settings["accept_eula"])),
        ("nice.root.dir.ui", top),
        ("kernel.java.home", settings["java_home"]),
        ("ef.spooler.dir", settings.get("spooler_dir") or f"{ef_top}/spoolers"),
        ("ef.repository.dir", f"{ef_top}/repository"),
        ("ef.sessions.dir", f"{ef_top}/sessions"),
        ("ef.data.root.dir", f"{ef_top}/data"),
        ("ef.logs.root.dir", f"{ef_top}/logs"),
        ("ef.temp.root.dir", f"{ef_top}/tmp"),  # noqa: S108 - EnginFrame's own temp folder under its top folder
        ("ef.product", settings["product"]),
        ("kernel.agent.on.same.machine", "true"),
        ("kernel.agent.rmi.port", "9999"),
        ("kernel.agent.rmi.bind.port", "9998"),
        ("kernel.ef.admin.user", settings["admin_user"]),
        ("kernel.server.tomcat.https", "true"),
        ("kernel.ef.tomcat.user", settings["tomcat_user"]),
        ("kernel.ef.root.context", settings["root_context"]),
        ("kernel.tomcat.https.port", str(settings["https_port"])),
        ("kernel.tomcat.shutdown.port", str(settings["shutdown_port"])),
    ]
    if settings.get("hostname"):
        pairs.append(("kernel.server.tomcat.https.ef.hostname", settings["hostname"]))
    pairs += [
        ("kernel.ef.db", "other-db"),
        ("kernel.ef.db.url", jdbc_url(settings["db_host"], settings["db_port"], settings["db_name"])),
        ("kernel.ef.db.admin.name", settings["db_user"]),
        ("kernel.ef.db.admin.password", db_password),
        ("kernel.ef.db.savePasswordInKeystore", _bool(settings["db_password_in_keystore"])),
        ("kernel.start_enginframe_at_boot", _bool(settings["start_at_boot"])),
        ("demo.install", "false"),
        ("default.auth.mgr", "pam"),
        ("pam.service", settings["pam_service"]),
        ("pam.user", settings["admin_user"]),
    ]
    if efadmin_password:
        # the installer checks PAM with this user and password [GEN: "Test the PAM authentication manager"]
        pairs.append(("pam.userpw", efadmin_password))
    pairs += [
        ("ef.jobmanager", "slurm"),
        ("slurm.binaries.path", settings["slurm_binaries_path"]),
        ("ef.delegate.dcvsm", "false"),
    ]
    # extra keys replace a key of the list in its place, or follow it sorted
    extra = {key: str(value) for key, value in (settings.get("extra") or {}).items()}
    pairs = [(key, extra.pop(key, value)) for key, value in pairs]
    pairs += sorted(extra.items())
    pairs += [
        ("intro-targets", ",".join(COMPONENTS) + ","),
        ("progress-targets", "cleanuptarget,"),
    ]
    return pairs
