#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: portal_check
short_description: Check every input of the portal tier before anything changes
version_added: 0.1.0
description:
  - Checks the inputs of the C(portal) role (EnginFrame, Aurora Serverless v2, EFS, FSx for Lustre, the HTTPS load
    balancer) and fails B(once), listing B(every) problem, one per line, each naming the role variable
    (C(portal_...)), what is wrong and the rule. The options are the role's variable groups without the
    C(portal_) prefix.
  - Reads the efadmin secret with C(GetSecretValue). Its C(SecretString) must be a JSON object whose key
    O(efadmin_secret_key) holds the password, as seed 001 creates it
    (C(--secret-string '{"efadminPassword":"..."}')). The password needs letters, digits and at least one special
    character (the seed's rule), at least 8 characters (ours) of printable ASCII without spaces (ours). A missing
    secret, one the caller may not read, a C(SecretBinary), a C(SecretString) that is not a JSON object or has no
    such key is a problem naming C(portal_efadmin_secret_id) or C(portal_efadmin_secret_key) and the secret id. The
    password never appears in a result, a message or a log.
  - "With C(certificate.domain), lists the ACM certificates (C(ListCertificates), statuses C(ISSUED) and
    C(PENDING_VALIDATION), every key type) and takes the newest C(ISSUED) one whose name or alternative name covers
    the domain (C(*.example.com) covers C(portal.example.com)); none is a problem naming C(portal_certificate_domain)
    unless C(certificate.request=true). With C(certificate.arn), C(DescribeCertificate) must find it C(ISSUED). With
    C(certificate.file), the certificate and key files must hold PEM blocks (their contents are never echoed)."
  - FSx for Lustre sizes and throughputs, the Aurora Serverless v2 capacity range, database names and ports, mount
    dirs, subnets, CIDRs, ports, instance type and root volume size are checked without AWS calls
    (C(plugins/module_utils/_portal.py) cites the AWS documentation of each rule).
  - This module never changes anything.
author: hpcops developers (@hpcops)
options:
  efadmin_secret_id:
    description:
      - Name or ARN of the Secrets Manager secret the user created with the efadmin password
        (C(portal_efadmin_secret_id)).
    type: str
    required: true
  efadmin_secret_key:
    description:
      - The JSON key of the secret that holds the password (C(portal_efadmin_secret_key)).
    type: str
    default: efadminPassword
  efadmin_user:
    description:
      - The EnginFrame administrator's Linux user name (C(portal_efadmin_user)).
    type: str
    default: efadmin
  db:
    description:
      - >-
        The database group, keys C(engine_version), C(min_capacity), C(max_capacity), C(name), C(master_username),
        C(port), C(backup_retention), C(aurora), C(local) (C(portal_db_*)). Missing keys take the role's defaults.
        With C(aurora=false) (no Aurora cluster) the Aurora-only checks (engine version, capacity, port 1150 or more)
        are skipped; with C(local=true) (a MariaDB on the portal host) C(portal_https_port) must differ from
        C(portal_db_port).
    type: dict
    default: {}
  efs:
    description:
      - The EFS group, keys C(enabled), C(mount_dir), C(performance_mode), C(throughput_mode) (C(portal_efs_*)).
    type: dict
    default: {}
  fsx:
    description:
      - >-
        The FSx for Lustre group, keys C(enabled), C(mount_dir), C(storage_capacity) (GiB), C(deployment_type),
        C(per_unit_storage_throughput) (MB/s/TiB, 0 = not set), C(storage_type) (C(portal_fsx_*)).
    type: dict
    default: {}
  certificate:
    description:
      - >-
        The certificate group, keys C(arn), C(domain), C(request) (bool), C(file), C(key_file), C(chain_file)
        (C(portal_certificate_*)). Exactly one of C(arn), C(domain) and C(file) must be set.
    type: dict
    default: {}
  network:
    description:
      - >-
        The network group, keys C(vpc_id), C(subnet_ids), C(alb_subnet_ids) (at least two), C(alb_ingress_cidrs),
        C(https_port) (C(portal_vpc_id), C(portal_subnet_ids)...). Not checked when omitted.
    type: dict
  instance:
    description:
      - >-
        The portal instance group, keys C(instance_type), C(root_volume_size) (GiB), C(image_id), C(key_name)
        (C(portal_instance_type), C(portal_root_volume_size)...). Not checked when omitted.
    type: dict
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - hpcops.aws_hpc.attributes.info_module
  - hpcops.aws_hpc.attributes.idempotent_not_modify_state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: amazon.aws.secretsmanager_secret
"""

EXAMPLES = r"""
- name: Check the portal's inputs before any change
  hpcops.aws_hpc.portal_check:
    efadmin_secret_id: "{{ portal_efadmin_secret_id }}"
    efadmin_secret_key: "{{ portal_efadmin_secret_key }}"
    db:
      engine_version: "{{ portal_db_engine_version }}"
      min_capacity: "{{ portal_db_min_capacity }}"
      max_capacity: "{{ portal_db_max_capacity }}"
      name: "{{ portal_db_name }}"
      master_username: "{{ portal_db_master_username }}"
      port: "{{ portal_db_port }}"
      backup_retention: "{{ portal_db_backup_retention }}"
      aurora: "{{ portal_db_aurora }}"
      local: "{{ portal_db_local }}"
    fsx:
      enabled: "{{ portal_fsx_enabled }}"
      mount_dir: "{{ portal_fsx_mount_dir }}"
      storage_capacity: "{{ portal_fsx_storage_capacity }}"
      deployment_type: "{{ portal_fsx_deployment_type }}"
      per_unit_storage_throughput: "{{ portal_fsx_per_unit_storage_throughput }}"
      storage_type: "{{ portal_fsx_storage_type }}"
    certificate:
      domain: portal.example.com
      request: true
  register: _portal_inputs

- name: Show what happens to the certificate
  ansible.builtin.debug:
    msg: "{{ _portal_inputs.certificate_action }} {{ _portal_inputs.certificate_arn }}"
"""

RETURN = r"""
efadmin_secret_arn:
  description: The ARN of the efadmin secret (never its value).
  returned: success
  type: str
  sample: arn:aws:secretsmanager:us-east-1:123456789012:secret:efadminPassword-AbCdEf
certificate_action:
  description:
    - V(existing) (RV(certificate_arn) is an ISSUED ACM certificate), V(import) (C(certificate.file)) or V(request)
      (C(certificate.request=true) and no ISSUED certificate covers the domain).
  returned: success
  type: str
  sample: existing
certificate_arn:
  description: The ISSUED ACM certificate the load balancer uses; empty when it is to be imported or requested.
  returned: success
  type: str
  sample: arn:aws:acm:us-east-1:123456789012:certificate/0b3c6e1a-1111-2222-3333-444455556666
certificate_pending_arn:
  description:
    - With RV(certificate_action=request), a certificate for the domain already requested and still
      C(PENDING_VALIDATION) (request no other); empty otherwise.
  returned: success
  type: str
  sample: ""
problems:
  description: Every problem found, one string each naming the role variable; the module fails when there is one.
  returned: always
  type: list
  elements: str
  sample: ["portal_fsx_storage_capacity: 1000 GiB is not a size FSx for Lustre accepts: SCRATCH_2 SSD takes 1200,
    2400 or a multiple of 2400 GiB"]
"""


from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    AWSCallError,
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._portal import (
    input_problems,
    password_problems,
    secret_password,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._portal_cert import (
    ACM_KEY_TYPES,
    certificate_names,
    certificate_problems,
    covers,
    pem_problems,
    pick_certificate,
)

# GetSecretValue errors that are the input's fault (AWS Secrets Manager API Reference, GetSecretValue, Errors,
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html)
SECRET_INPUT_ERRORS = {
    "ResourceNotFoundException": "does not exist (or is not visible to these credentials) in",
    "AccessDeniedException": "cannot be read with these credentials (secretsmanager:GetSecretValue, and kms:Decrypt "
                             "on its key) in",
    "DecryptionFailure": "cannot be decrypted with its KMS key in",
    "InvalidRequestException": "cannot be read (scheduled for deletion?) in",
}


def read_efadmin_secret(module, secrets, region):
    """``(secret arn, problems)``; the password is registered as a no_log value and only checked."""
    secret_id, key = module.params["efadmin_secret_id"], module.params["efadmin_secret_key"]
    if not secret_id:
        return "", ["portal_efadmin_secret_id: is empty; create the efadmin secret in Secrets Manager and name it"]
    try:
        value = aws_call(f"read the efadmin secret {secret_id}", secrets.get_secret_value, SecretId=secret_id)
    except AWSCallError as exc:
        if exc.code not in SECRET_INPUT_ERRORS:
            raise
        return "", [f"portal_efadmin_secret_id: the secret {secret_id} {SECRET_INPUT_ERRORS[exc.code]} {region}: "
                    f"{exc.code}: {exc.message}"]
    password, problems = secret_password(secret_id, key, value)
    if password is not None:
        module.no_log_values.add(password)
        problems = password_problems(password, key)
    return value.get("ARN", ""), problems


def _full_names(acm, summary, domain):
    """``summary`` with every alternative name when ListCertificates left some out and none listed matched."""
    if not summary.get("HasAdditionalSubjectAlternativeNames") or any(
            covers(name, domain) for name in certificate_names(summary)):
        return summary
    arn = summary["CertificateArn"]
    described = aws_call(f"describe ACM certificate {arn}", acm.describe_certificate, CertificateArn=arn)
    return {**summary, "SubjectAlternativeNameSummaries": described["Certificate"].get("SubjectAlternativeNames")}


def certificate_by_arn(acm, arn, region):
    described = aws_call(f"describe ACM certificate {arn}", acm.describe_certificate, CertificateArn=arn,
                         ignore=("ResourceNotFoundException",))
    if described is None:
        return [f"portal_certificate_arn: ACM has no certificate {arn} in {region}"]
    status = described["Certificate"].get("Status")
    if status != "ISSUED":
        return [f"portal_certificate_arn: the ACM certificate {arn} is {status}; the load balancer needs an ISSUED one"]
    return []


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def certificate_files(cert):
    """Problems of the files to import: readable, PEM blocks of the right kind (contents never echoed)."""
    problems = []
    for name, kind in (("file", "CERTIFICATE"), ("key_file", "PRIVATE KEY"), ("chain_file", "CERTIFICATE")):
        if not cert.get(name):
            continue
        variable = f"portal_certificate_{name}"
        try:
            text = _read(cert[name])
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{variable}: cannot read {cert[name]}: {exc.strerror or exc.__class__.__name__}")
            continue
        problems += pem_problems(variable, text, kind)
    return problems


def check_certificate(module, region):
    """``(result keys, problems)`` of the certificate group; AWS is asked only when the group is well formed."""
    cert = module.params["certificate"] or {}
    result = {"certificate_action": "", "certificate_arn": "", "certificate_pending_arn": ""}
    problems = certificate_problems(cert)
    if problems:
        return result, problems
    if cert.get("file"):
        result["certificate_action"] = "import"
        return result, certificate_files(cert)
    acm = client_from_module(module, "acm")
    if cert.get("arn"):
        result.update(certificate_action="existing", certificate_arn=cert["arn"])
        return result, certificate_by_arn(acm, cert["arn"], region)
    domain = cert["domain"]
    summaries = paginate(f"list the ACM certificates for {domain}", acm, "list_certificates",
                         "CertificateSummaryList", CertificateStatuses=["ISSUED", "PENDING_VALIDATION"],
                         Includes={"keyTypes": list(ACM_KEY_TYPES)})
    picked = pick_certificate([_full_names(acm, item, domain) for item in summaries], domain,
                              cert.get("request", False), region)
    result.update(certificate_action=picked["action"], certificate_arn=picked["arn"],
                  certificate_pending_arn=picked["pending_arn"])
    return result, picked["problems"]


def check(module):
    """The module's result; every problem at once in one failure."""
    secrets = client_from_module(module, "secretsmanager")
    region = module.params.get("region") or secrets.meta.region_name
    problems = input_problems(module.params)
    secret_arn, found = read_efadmin_secret(module, secrets, region)
    problems += found
    result, found = check_certificate(module, region)
    problems += found
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ModuleFailure(f"The portal's inputs have {count}:\n" + "\n".join(problems), problems=problems)
    return dict(changed=False, efadmin_secret_arn=secret_arn, problems=[], **result)


def main():
    argument_spec = dict(
        efadmin_secret_id=dict(type="str", required=True),
        efadmin_secret_key=dict(type="str", default="efadminPassword", no_log=False),
        efadmin_user=dict(type="str", default="efadmin"),
        db=dict(type="dict", default={}),
        efs=dict(type="dict", default={}),
        fsx=dict(type="dict", default={}),
        certificate=dict(type="dict", default={}),
        network=dict(type="dict"),
        instance=dict(type="dict"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module, lambda: check(module))


if __name__ == "__main__":
    main()
