#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: enginframe_config
short_description: Render and check the EnginFrame installer's unattended answer file (efinstall.config)
version_added: 0.1.0
description:
  - Writes O(dest), the answer file of the EnginFrame installer's batch mode
    (C(java -jar enginframe-<version>.jar --batch -f efinstall.config), NICE EnginFrame Administrator Guide,
    U(https://docs.aws.amazon.com/enginframe/latest/ag/section-installation.html)), from O(settings) and the two
    passwords - an HTTPS Tomcat on O(settings.https_port), the MySQL-compatible database through a JDBC URL built
    from O(settings.db_host), O(settings.db_port) and O(settings.db_name) (C(kernel.ef.db=other-db)), PAM
    authentication, and the Slurm grid manager.
  - The file is a Java properties file; values are escaped as C(java.util.Properties.store) writes them
    (C(\\), C(:), C(=), C(#), C(!), control and non-ASCII characters).
  - Before writing, the rendered text is read back and checked - every key must be one the installer is documented
    to read, every key the unattended install needs must be there, and no line may be malformed. A problem fails the
    module, naming the line and the key (never a value), and nothing is written.
  - The file is replaced only when its content differs, through a temporary file of mode C(0600) in the same folder,
    so the passwords are never readable by others, not even for a moment; O(mode), O(owner) and O(group) are then
    applied.
  - Runs on the portal host. It never runs the installer and never returns a password.
author: hpcops developers (@hpcops)
options:
  dest:
    description:
      - The file to write, for example V(/root/efinstall.config). Its folder must exist.
    type: path
    required: true
  settings:
    description:
      - What to install and how. Each key maps to one or more installer keys (named in parentheses).
    type: dict
    required: true
    suboptions:
      accept_eula:
        description:
          - Accept the EnginFrame licence agreement (C(ef.accept.eula)). Must be V(true) - the batch installer stops
            otherwise.
        type: bool
        default: false
      top_dir:
        description:
          - EnginFrame's install folder (C(nice.root.dir.ui)); EnginFrame itself goes to C(<top_dir>/enginframe),
            with its spoolers, repository, sessions, data, logs and temp folders under it.
        type: path
        default: /opt/nice
      java_home:
        description:
          - The Java runtime's folder (C(kernel.java.home)), the parent of C(bin/java).
        type: path
        required: true
      spooler_dir:
        description:
          - The spoolers' folder (C(ef.spooler.dir)), for example on shared storage. Default
            C(<top_dir>/enginframe/spoolers).
        type: path
      product:
        description:
          - EnginFrame Professional or Enterprise (C(ef.product)).
        type: str
        choices: [PRO, ENT]
        default: PRO
      admin_user:
        description:
          - The EnginFrame administrator, an operating system user (C(kernel.ef.admin.user), C(pam.user)).
        type: str
        default: efadmin
      tomcat_user:
        description:
          - The operating system user that runs Tomcat (C(kernel.ef.tomcat.user)).
        type: str
        default: efnobody
      root_context:
        description:
          - The web application's context (C(kernel.ef.root.context)); the portal is at C(https://<host>:<port>/<root_context>).
        type: str
        default: enginframe
      https_port:
        description:
          - Tomcat's HTTPS port (C(kernel.tomcat.https.port), with C(kernel.server.tomcat.https=true)).
        type: int
        default: 8443
      shutdown_port:
        description:
          - Tomcat's shutdown port (C(kernel.tomcat.shutdown.port)).
        type: int
        default: 8005
      hostname:
        description:
          - The host name in Tomcat's generated certificate (C(kernel.server.tomcat.https.ef.hostname)); left out
            when empty.
        type: str
      db_host:
        description:
          - The database's host name or address (in C(kernel.ef.db.url)), the Aurora endpoint or the portal host's
            own address.
        type: str
        required: true
      db_port:
        description:
          - The database's port (in C(kernel.ef.db.url)).
        type: int
        default: 3306
      db_name:
        description:
          - The database (in C(kernel.ef.db.url)); EnginFrame creates its tables there at first start.
        type: str
        required: true
      db_user:
        description:
          - The database user (C(kernel.ef.db.admin.name)); its password is O(db_password).
        type: str
        required: true
      db_password_in_keystore:
        description:
          - Keep the database password in EnginFrame's keystore instead of C(server.conf)
            (C(kernel.ef.db.savePasswordInKeystore)).
        type: bool
        default: true
      pam_service:
        description:
          - The PAM service EnginFrame authenticates with (C(pam.service)); V(common-auth) on Debian and Ubuntu.
        type: str
        default: system-auth
      slurm_binaries_path:
        description:
          - The folder of the Slurm commands (C(slurm.binaries.path), with C(ef.jobmanager=slurm)).
        type: path
        default: /opt/slurm/bin
      start_at_boot:
        description:
          - Start EnginFrame at boot (C(kernel.start_enginframe_at_boot)).
        type: bool
        default: true
      extra:
        description:
          - More installer keys and their values, for example C(kernel.ef.enterprise.tcp.servers). Each must be a
            documented key; one the module writes is replaced in its place. Password keys are refused here.
        type: dict
        default: {}
  efadmin_password:
    description:
      - The password of O(settings.admin_user), with which the installer tests PAM authentication (C(pam.userpw)).
        Left out of the file when empty.
    type: str
  db_password:
    description:
      - The password of O(settings.db_user) (C(kernel.ef.db.admin.password)).
    type: str
    required: true
  mode:
    description:
      - The file's mode, as for M(ansible.builtin.file).
    type: raw
    default: "0600"
  owner:
    description:
      - The file's owner; the current one (or the module's user for a new file) when not given.
    type: str
  group:
    description:
      - The file's group; the current one (or the module's user's for a new file) when not given.
    type: str
notes:
  - The documented keys, with the public source of each, are in C(plugins/module_utils/_enginframe.py).
  - Diff mode shows the file before and after with the value of every password key as C(********).
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Passwords are masked in both versions.
  idempotent:
    support: full
seealso:
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Render the EnginFrame answer file against the Aurora endpoint
  hpcops.aws_hpc.enginframe_config:
    dest: /root/efinstall.config
    settings:
      accept_eula: true
      top_dir: /opt/nice
      java_home: /usr/lib/jvm/java-17-openjdk-amd64
      db_host: hpc-portal-db.cluster-abc.us-east-1.rds.amazonaws.com
      db_name: enginframe
      db_user: efdbadmin
      pam_service: common-auth
      slurm_binaries_path: /opt/slurm/bin
    efadmin_password: "{{ _efadmin_password }}"
    db_password: "{{ _db_password }}"
  no_log: true
"""

RETURN = r"""
dest:
  description: The file written (or that would be, in check mode).
  returned: always
  type: str
  sample: /root/efinstall.config
keys:
  description: The sorted keys of the file.
  returned: always
  type: list
  elements: str
  sample: [default.auth.mgr, ef.accept.eula, kernel.ef.db, kernel.ef.db.url]
checked:
  description: The rendered file passed the key check (the module fails otherwise).
  returned: success
  type: bool
  sample: true
problems:
  description: What the key check or the settings check found; each names a line or a setting, never a value.
  returned: failure
  type: list
  elements: str
  sample: ["required key 'kernel.ef.db.url' is missing"]
"""

import contextlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _enginframe

SETTINGS_SPEC = dict(
    accept_eula=dict(type="bool", default=False),
    top_dir=dict(type="path", default="/opt/nice"),
    java_home=dict(type="path", required=True),
    spooler_dir=dict(type="path"),
    product=dict(type="str", choices=["PRO", "ENT"], default="PRO"),
    admin_user=dict(type="str", default="efadmin"),
    tomcat_user=dict(type="str", default="efnobody"),
    root_context=dict(type="str", default="enginframe"),
    https_port=dict(type="int", default=8443),
    shutdown_port=dict(type="int", default=8005),
    hostname=dict(type="str"),
    db_host=dict(type="str", required=True),
    db_port=dict(type="int", default=3306),
    db_name=dict(type="str", required=True),
    db_user=dict(type="str", required=True),
    db_password_in_keystore=dict(type="bool", default=True),
    pam_service=dict(type="str", default="system-auth"),
    slurm_binaries_path=dict(type="path", default="/opt/slurm/bin"),
    start_at_boot=dict(type="bool", default=True),
    extra=dict(type="dict", default={}),
)

ARGUMENT_SPEC = dict(
    dest=dict(type="path", required=True),
    settings=dict(type="dict", required=True, options=SETTINGS_SPEC),
    efadmin_password=dict(type="str", no_log=True),
    db_password=dict(type="str", required=True, no_log=True),
    mode=dict(type="raw", default="0600"),
    owner=dict(type="str"),
    group=dict(type="str"),
)


def read_current(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def write_private(module, path, text):
    """Replace path with text through a mode 0600 temporary file in the same folder (keeping the owner)."""
    folder = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(prefix=".efinstall.", dir=folder)  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(to_bytes(text))
            out.flush()
            os.fsync(out.fileno())
        if os.path.exists(path):
            current = os.stat(path)
            # a non-root module cannot give the file away; owner/group (below) say what it must be
            with contextlib.suppress(PermissionError):
                os.chown(tmp, current.st_uid, current.st_gid)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        module.fail_json(msg=f"Failed to write {path}: {to_native(exc)}")


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    dest = module.params["dest"]
    settings = module.params["settings"]
    problems = _enginframe.check_settings(settings)
    if problems:
        module.fail_json(msg=f"Bad settings for {dest}: " + "; ".join(problems), problems=problems)

    try:
        pairs = _enginframe.build_pairs(settings, module.params["db_password"], module.params["efadmin_password"])
        text = _enginframe.render(pairs)
    except ValueError as exc:
        module.fail_json(msg=f"Cannot render {dest}: {to_native(exc)}")
    problems = _enginframe.check_keys(text)
    if problems:
        module.fail_json(msg=f"The rendered {dest} fails the installer's key check: " + "; ".join(problems),
                         problems=problems)

    if not os.path.isdir(os.path.dirname(dest) or "."):
        module.fail_json(msg=f"Cannot write {dest}: its folder {os.path.dirname(dest)} does not exist")
    current = read_current(dest)
    changed = current != text
    if changed and not module.check_mode:
        write_private(module, dest, text)

    file_args = module.load_file_common_arguments(module.params, path=dest)
    if os.path.exists(dest):
        changed = module.set_fs_attributes_if_different(file_args, changed)

    result = dict(changed=changed, dest=dest, keys=_enginframe.keys_of(text), checked=True)
    if module._diff:
        result["diff"] = dict(
            before=_enginframe.mask(current or ""),
            after=_enginframe.mask(text),
            before_header=dest,
            after_header=dest,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
