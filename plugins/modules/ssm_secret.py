#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_secret
short_description: Keep a generated secret in SSM Parameter Store without it ever leaving AWS
version_added: 0.1.0
description:
  - Makes sure an SSM Parameter Store SecureString parameter exists, encrypted with a given KMS key.
  - When the parameter does not exist, the module generates a random value (with Python's C(secrets) module)
    and stores it. When it exists, its value is B(never) changed, so running the module again never rotates
    a secret that services already use.
  - Why this module exists rather than M(community.aws.ssm_parameter) - that module needs the value passed in
    from the controller, so a generated password would exist as a play variable. This module generates the
    value inside the module when the parameter is absent, so the value never exists as a play variable,
    and it never returns it in any form (not even a hash).
  - Read the value at run time where it is needed, for example with the P(amazon.aws.aws_ssm#lookup) lookup
    in a task that has C(no_log=true).
  - When the existing parameter is encrypted with another KMS key than O(key_id), it is re-encrypted with
    O(key_id) - the value is read with decryption and written back unchanged.
author: hpcops developers (@hpcops)
options:
  name:
    description:
      - The name (path) of the SSM parameter, for example V(/sql-server/service-account/password).
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the parameter exists; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  description:
    description:
      - The description of the parameter.
      - Used when the parameter is created or re-encrypted; a different description alone does not rewrite
        an existing parameter.
    type: str
  key_id:
    description:
      - The KMS key that encrypts the SecureString, as a key id, key ARN, alias name (V(alias/hpc)) or alias ARN.
      - Keys are compared after resolving aliases with KMS C(DescribeKey), so an alias and the ARN of its
        key are the same key.
      - Required when O(state=present).
    type: str
  value:
    description:
      - The value to store, used B(only) when the parameter does not exist yet (for example a user name chosen
        by the user). An existing value is never overwritten.
      - When omitted, a random value is generated following O(length) and O(charset).
    type: str
  length:
    description:
      - The length of a generated value, from V(16) to V(128).
    type: int
    default: 32
  charset:
    description:
      - The characters of a generated value. Every generated value contains at least one character of each
        class of the charset.
      - V(alnum) - lowercase and uppercase ASCII letters and digits; the value starts with a letter.
      - V(alnum_symbols) - letters, digits and the symbols C(-), C(.), C(_) and C(~) (the URL-safe
        "unreserved" punctuation); the value starts with a letter. No quotes, backslash, semicolon, space,
        C($), C(%), C(^), C(&), C(|), C(!) or comma, so the value survives connection strings, URLs and
        POSIX shell, C(cmd.exe) and PowerShell command lines without quoting, and meets the complexity rules
        of SQL Server and Windows passwords.
      - V(hex) - lowercase hexadecimal digits (at least one digit and one of V(a)-V(f)).
    type: str
    choices: [alnum, alnum_symbols, hex]
    default: alnum_symbols
  tags:
    description:
      - Tags of the parameter. When omitted, the tags are left as they are.
    type: dict
  purge_tags:
    description:
      - Remove tags that are not in O(tags). Only applies when O(tags) is given.
      - Defaults to V(true), as in amazon.aws; pass V(false) to only add and update tags.
    type: bool
    default: true
notes:
  - The value is never returned, not in the result, not in the diff, and not in error messages.
  - A parameter that exists with another type than C(SecureString) makes the module fail; it is never
    converted.
  - The predicted RV(version) in check mode assumes SSM increments the version on each write.
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)); the message names the parameter.
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: full
    details:
      - The diff shows whether the parameter exists, its type, KMS key, tags and version; never its value.
  idempotent:
    support: full
seealso:
  - module: community.aws.ssm_parameter
  - plugin: amazon.aws.aws_ssm
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Make sure the SQL Server service account has a password (generated once, never rotated)
  hpcops.aws_hpc.ssm_secret:
    name: /sql-server/service-account/password
    key_id: alias/hpc
    description: SQL Server service account password
    tags:
      hpc:cluster: prod

- name: Store a user name chosen by the user, only if none is stored yet
  hpcops.aws_hpc.ssm_secret:
    name: /sql-server/service-account/username
    key_id: alias/hpc
    value: svc-sql

- name: A 64 character hexadecimal token
  hpcops.aws_hpc.ssm_secret:
    name: /hpc/cluster-token
    key_id: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    length: 64
    charset: hex

- name: Use the secret where it is needed, without logging it
  ansible.builtin.set_fact:
    _sql_password: "{{ lookup('amazon.aws.aws_ssm', '/sql-server/service-account/password') }}"
  no_log: true

- name: Remove the secret
  hpcops.aws_hpc.ssm_secret:
    name: /hpc/cluster-token
    state: absent
"""

RETURN = r"""
name:
  description: The name of the parameter.
  returned: always
  type: str
  sample: /sql-server/service-account/password
arn:
  description: The ARN of the parameter. V(null) when it does not exist (or would only be created in check mode).
  returned: always
  type: str
  sample: arn:aws:ssm:us-east-1:123456789012:parameter/sql-server/service-account/password
version:
  description: The version of the parameter (predicted in check mode). V(null) when it does not exist.
  returned: always
  type: int
  sample: 1
key_id:
  description: The KMS key of the parameter as SSM reports it. V(null) when it does not exist.
  returned: always
  type: str
  sample: alias/hpc
type:
  description: The type of the parameter (V(SecureString)). V(null) when it does not exist.
  returned: always
  type: str
  sample: SecureString
created:
  description: Whether this run stored a new value (in check mode - would store).
  returned: always
  type: bool
  sample: true
reencrypted:
  description: Whether this run re-encrypted the existing value with O(key_id) (in check mode - would).
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._secret import (
    LENGTH_MAX,
    LENGTH_MIN,
    SECURE_STRING,
    SecretPlanError,
    build_diff,
    expected_state,
    generate_secret,
    plan_secret,
    same_kms_key,
    validate_length,
)


class SecretManager:
    """Reads and changes one SSM parameter.

    AWS failures raise AWSCallError naming the parameter (``run_module`` fails the module once). Every
    value this run handles is added to the module's ``no_log_values``, so Ansible masks it out of the
    result, error messages included.
    """

    def __init__(self, module):
        self.module = module
        self.name = module.params["name"]
        self.ssm = client_from_module(module, "ssm")
        self._kms = None
        self._key_arns = {}

    def protect(self, value):
        """Never let ``value`` reach the output, even through an error message."""
        if value:
            self.module.no_log_values.add(value)

    def what(self, action):
        return f"{action} SSM parameter {self.name}"

    # ------------------------------------------------------------------ reading
    def read(self):
        """The parameter's state (no value) or None when it does not exist."""
        # Paginated: with filters, DescribeParameters may answer a page with no match and a NextToken.
        found = paginate_parameters(self.ssm, self.what("read"), self.name)
        meta = next((p for p in found if p.get("Name") == self.name), None)
        if meta is None:
            return None
        arn = meta.get("ARN") or self._arn()
        answer = aws_call(self.what("read the tags of"), self.ssm.list_tags_for_resource,
                          ResourceType="Parameter", ResourceId=self.name)
        return {
            "type": meta.get("Type"),
            "key_id": meta.get("KeyId"),
            "version": meta.get("Version"),
            "description": meta.get("Description"),
            "tier": meta.get("Tier"),
            "arn": arn,
            "tags": {t["Key"]: t["Value"] for t in answer.get("TagList", [])},
        }

    def _arn(self):
        # DescribeParameters of older endpoints has no ARN; GetParameter has. Only the ARN is kept
        # from that answer (without decryption it still carries the ciphertext).
        answer = aws_call(self.what("read"), self.ssm.get_parameter, Name=self.name, WithDecryption=False)
        return answer["Parameter"].get("ARN")

    def key_arn(self, key_ref):
        """The ARN of a KMS key reference, None when KMS does not know it."""
        if key_ref not in self._key_arns:
            if self._kms is None:
                self._kms = client_from_module(self.module, "kms")
            answer = aws_call(self.what(f"look up KMS key {key_ref} for"), self._kms.describe_key, KeyId=key_ref,
                              ignore=("NotFoundException",), default=None)
            self._key_arns[key_ref] = answer["KeyMetadata"]["Arn"] if answer else None
        return self._key_arns[key_ref]

    # ------------------------------------------------------------------ changing
    def create(self, value, key_id, description, tags):
        kwargs = {"Name": self.name, "Value": value, "Type": SECURE_STRING, "KeyId": key_id, "Overwrite": False}
        if description:
            kwargs["Description"] = description
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        aws_call(self.what("create"), self.ssm.put_parameter, **kwargs)

    def reencrypt(self, current, key_id, description):
        answer = aws_call(self.what("decrypt (for re-encryption)"), self.ssm.get_parameter, Name=self.name,
                          WithDecryption=True)
        value = answer["Parameter"]["Value"]
        self.protect(value)
        kwargs = {"Name": self.name, "Value": value, "Type": SECURE_STRING, "KeyId": key_id, "Overwrite": True}
        description = description or current.get("description")
        if description:
            kwargs["Description"] = description
        if current.get("tier"):
            kwargs["Tier"] = current["tier"]
        aws_call(self.what(f"re-encrypt with KMS key {key_id}"), self.ssm.put_parameter, **kwargs)

    def retag(self, to_set, to_unset):
        if to_unset:
            aws_call(self.what("tag"), self.ssm.remove_tags_from_resource, ResourceType="Parameter",
                     ResourceId=self.name, TagKeys=to_unset)
        if to_set:
            aws_call(self.what("tag"), self.ssm.add_tags_to_resource, ResourceType="Parameter", ResourceId=self.name,
                     Tags=[{"Key": k, "Value": v} for k, v in sorted(to_set.items())])

    def delete(self):
        # A parameter deleted meanwhile: the goal is reached.
        aws_call(self.what("delete"), self.ssm.delete_parameter, Name=self.name, ignore=("ParameterNotFound",))


def paginate_parameters(ssm, what, name):
    """Every DescribeParameters entry whose name equals ``name``."""
    flt = [{"Key": "Name", "Option": "Equals", "Values": [name]}]
    return paginate(what, ssm, "describe_parameters", "Parameters", ParameterFilters=flt)


def result_of(name, state, created=False, reencrypted=False):
    state = state or {}
    return {
        "name": name,
        "arn": state.get("arn"),
        "version": state.get("version"),
        "key_id": state.get("key_id"),
        "type": state.get("type"),
        "created": created,
        "reencrypted": reencrypted,
    }


def decide(module, manager, current):
    """The plan for this task (fails the module for a type mismatch or an unknown KMS key)."""
    params = module.params
    key_matches = True
    if params["state"] == "present" and current is not None and current.get("type") == SECURE_STRING:
        key_matches = same_kms_key(current.get("key_id"), params["key_id"], manager.key_arn)
        if not key_matches and manager.key_arn(params["key_id"]) is None:
            raise ModuleFailure(f"Failed to re-encrypt SSM parameter {manager.name}: "
                                f"KMS key {params['key_id']} (key_id) was not found")
    tags = None
    if params["tags"] is not None:
        tags = {str(k): str(v) for k, v in params["tags"].items()}
    try:
        return plan_secret(manager.name, params["state"], current, key_matches=key_matches, tags=tags,
                           purge_tags=params["purge_tags"])
    except SecretPlanError as exc:
        raise ModuleFailure(str(exc), type=current.get("type")) from exc


def apply(module, manager, plan, current):
    """Carry out ``plan``; the value (generated or given) goes straight to SSM and nowhere else."""
    params = module.params
    if plan.delete:
        manager.delete()
        return
    if plan.create:
        value = params["value"]
        if value is None:
            value = generate_secret(params["length"], params["charset"])
        manager.protect(value)
        manager.create(value, params["key_id"], params["description"], plan.tags_to_set)
        return
    if plan.reencrypt:
        manager.reencrypt(current, params["key_id"], params["description"])
    if plan.retag:
        manager.retag(plan.tags_to_set, plan.tags_to_unset)


def ensure(module, manager):
    """The module's result: the plan carried out (or only predicted in check mode)."""
    params = module.params
    current = manager.read()
    plan = decide(module, manager, current)
    if module.check_mode or not plan.changed:
        after = expected_state(current, plan, params["key_id"])
    else:
        apply(module, manager, plan, current)
        after = manager.read()
    result = {"changed": plan.changed}
    if module._diff:
        result["diff"] = build_diff(manager.name, current, after)
    result.update(result_of(manager.name, after, created=plan.create, reencrypted=plan.reencrypt))
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        description=dict(type="str"),
        key_id=dict(type="str"),
        value=dict(type="str", no_log=True),
        length=dict(type="int", default=32),
        charset=dict(type="str", choices=["alnum", "alnum_symbols", "hex"], default="alnum_symbols"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["key_id"])],
        supports_check_mode=True,
    )
    try:
        validate_length(module.params["length"])
    except ValueError:
        module.fail_json(msg=f"length must be between {LENGTH_MIN} and {LENGTH_MAX}, got {module.params['length']}")
    run_module(module, lambda: ensure(module, SecretManager(module)))


if __name__ == "__main__":
    main()
