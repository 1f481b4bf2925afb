#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: win_hpc_connection_check
short_description: Refuse insecure connections to the Windows hosts of an HPC Pack cluster
version_added: 0.1.0
description:
  - Runs on the controller only (no round trip to the host) and fails, naming the setting and the fix, when the host's
    connection would use plain HTTP, Basic authentication (pywinrm's C(ssl) and C(plaintext) transports are Basic), NTLM
    instead of Kerberos, or an unvalidated server certificate, or a connection plugin other than winrm, psrp or
    amazon.aws.aws_ssm.
  - Reads the connection plugin's resolved options, so defaults count - for example winrm over HTTPS without a transport
    resolves to Basic and is refused.
extends_documentation_fragment:
  - hpcops.aws_hpc.win_hpc
attributes:
  check_mode:
    details: Reads the connection settings only.
  diff_mode:
    support: none
  idempotent:
    description: Never changes anything.
author: hpcops developers (@hpcops)
options:
  allow_ntlm:
    description: Accept NTLM (or CredSSP) when Kerberos is not available.
    type: bool
    default: false
  allow_unvalidated_certificate:
    description: Accept C(server_cert_validation=ignore). Only for a first bootstrap with a self-signed listener
                 certificate.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Refuse Basic, plain HTTP and unvalidated certificates
  hpcops.aws_hpc.win_hpc_connection_check:
"""

RETURN = r"""
connection:
  description: The resolved connection, scheme, transports and certificate validation.
  returned: always
  type: dict
  sample: {"connection": "winrm", "scheme": "https", "transports": ["kerberos"], "certificate_validation": "validate"}
problems:
  description: Why the connection is refused.
  returned: when failed
  type: list
  elements: str
"""

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import action_plugin_stub


def main():
    action_plugin_stub("win_hpc_connection_check")


if __name__ == "__main__":
    main()
