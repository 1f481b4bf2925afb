# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: hpc_ec2
short_description: EC2 inventory of HPC clusters, grouped by C(hpc:role) and platform
version_added: 0.1.0
description:
  - Lists EC2 instances with boto3 and groups them by their C(hpc:role) tag
    (V(sqlserver), V(headnode), V(computenode), V(pcluster)) and by platform (V(windows), V(linux)).
  - Built for fleets of thousands of instances. Regions are queried concurrently (one client per
    region from one session). Successful DescribeInstances responses are read by a lean XML parser
    that keeps only the fields the host records need; errors, retries, credentials, signing and
    endpoint resolution stay botocore's own. Each host gets a small, fixed set of variables.
  - The inventory file must be named C(hpc_ec2.yml), C(hpc_ec2.yaml), or end with C(.hpc_ec2.yml)
    or C(.hpc_ec2.yaml), for example C(cluster-a.hpc_ec2.yml).
  - "Host variables (lean set, the default): C(ec2_instance_id), C(ec2_image_id), C(ec2_instance_type),
    C(ec2_launch_time) (ISO 8601, UTC), C(ec2_state), C(ec2_tags) (a dictionary, keys and values in their
    original case), C(ec2_region), C(ec2_availability_zone), C(ec2_private_ip_address), C(ec2_platform)
    (V(windows) or V(linux)) and C(ansible_host) (see O(ansible_host))."
  - Nothing connection-specific is set on any host, Windows hosts included (no C(ansible_connection),
    C(ansible_port), C(ansible_shell_type)). Set those in C(group_vars/windows.yml) next to the inventory
    file, for example C(ansible_connection=amazon.aws.aws_ssm) or C(psrp).
  - Hostnames are unique. When two or more instances would get the same name from O(hostnames), all
    of them are named by their instance id instead (independent of the order AWS lists them in).
  - Values from AWS (tags included) are never treated as templates.
  - The same file works against real AWS and against the embedded lab; the lab only sets
    C(AWS_ENDPOINT_URL).
  - Credentials are taken through the same options as C(amazon.aws.aws_ec2) (O(access_key), O(secret_key),
    O(session_token), O(profile), O(assume_role_arn) and their aliases and environment variables). Options set
    in the inventory file win over environment variables; in order, the plugin uses keys set in the file
    (O(access_key) and O(secret_key), with O(session_token) when it is set there too), a O(profile) set in the
    file, a profile from C(AWS_PROFILE) or C(AWS_DEFAULT_PROFILE), keys from the environment, and else boto3's
    own chain (shared files, SSO, container or instance role). Keys and a O(profile) both set in the file are
    an error.
  - With O(assume_role_arn), those credentials only call STS C(AssumeRole) (through O(endpoint_url),
    O(aws_ca_bundle), O(validate_certs) and O(aws_config), with botocore's V(standard) retry mode, in
    O(region), else the first of O(regions), else the default region); DescribeInstances then runs with the
    role's temporary credentials.
  - O(access_key), O(secret_key), O(session_token), O(profile), O(assume_role_arn), O(endpoint_url) and O(region)
    may be templates, for example a C(lookup) of another environment variable (see the examples).
  - Credential values never appear in error messages or in the cache; the cache entry is tied to the identity
    through the profile name, the role ARN and a digest of the access key id.
  - When O(cluster) is set, the C(all) group gets the variable C(hpc_inventory_cluster) with its value, so a
    playbook can check that the inventory lists the cluster it is about to configure (for example against
    C(hpc_cluster_name)).
author:
  - hpcops developers (@hpcops)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - amazon.aws.boto3
  - amazon.aws.common.plugins
  - amazon.aws.region.plugins
  - amazon.aws.assume_role.plugins
options:
  plugin:
    description:
      - The name of this plugin; it marks the file as an C(hpc_ec2) inventory source.
    type: str
    required: true
    choices: [hpcops.aws_hpc.hpc_ec2]
  regions:
    description:
      - The AWS regions to list instances in. They are queried concurrently.
      - When empty, O(region) is used, else the default region of the session (C(AWS_DEFAULT_REGION) or the
        profile's region); if there is none the inventory fails naming this option.
    type: list
    elements: str
    default: []
  endpoint_url:
    description:
      - URL to use instead of AWS's own endpoints, for EC2 and (with O(assume_role_arn)) STS, for example the
        embedded lab's V(http://127.0.0.1:4566).
      - When unset, botocore's own configuration applies (C(AWS_ENDPOINT_URL_EC2), C(AWS_ENDPOINT_URL_STS) and
        the profile's C(endpoint_url) included); use those for an endpoint per service.
      - This replaces the option of the same name from C(amazon.aws.common.plugins) to also read
        C(AWS_ENDPOINT_URL), the standard botocore variable (it wins over C(AWS_URL) when both are set).
    type: str
    aliases: [aws_endpoint_url]
    env:
      - name: AWS_URL
      - name: AWS_ENDPOINT_URL
  aws_ca_bundle:
    description:
      - The CA bundle to validate the TLS certificates of the AWS endpoints with.
      - When unset, botocore's own setting applies (C(AWS_CA_BUNDLE) or the profile's C(ca_bundle)).
    type: path
    env:
      - name: AWS_CA_BUNDLE
  validate_certs:
    description:
      - When V(false), TLS certificates of the AWS endpoints are not validated (EC2 and STS).
      - Strongly discouraged; set O(aws_ca_bundle) instead.
    type: bool
    default: true
  aws_config:
    description:
      - Extra botocore client configuration for the EC2 and STS clients, for example C(connect_timeout) or
        C(proxies); see U(https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html).
      - The retry settings stay the plugin's (O(max_attempts), botocore's V(standard) retry mode).
    type: dict
  filters:
    description:
      - EC2 API filters for DescribeInstances as a dictionary of filter name to a value or a list of
        values, for example C(instance-type) or C(tag:Environment). They are applied server side.
      - See U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html) for the names.
      - Unless C(instance-state-name) is given here, only V(pending), V(running), V(stopping) and
        V(stopped) instances are listed.
    type: dict
    default: {}
  cluster:
    description:
      - Only list the instances of this cluster, that is whose C(hpc:cluster) tag has this value.
      - Becomes the server-side filter C(tag:hpc:cluster); it may not contradict a C(tag:hpc:cluster)
        entry of O(filters).
      - Also sets the variable C(hpc_inventory_cluster) of the C(all) group to this value.
    type: str
  hostnames:
    description:
      - The preference list for inventory hostnames; the first entry with a non-empty value for an
        instance names it, and the instance id is the last resort.
      - Each entry is V(tag:<key>) (the value of that tag, key case-sensitive), V(instance-id),
        V(private-dns-name), V(dns-name) (alias V(public-dns-name)), V(private-ip-address) or
        V(ip-address) (alias V(public-ip-address)).
      - A name claimed by two or more instances is replaced by the instance id for all of them.
    type: list
    elements: str
    default: ['tag:Name', 'private-dns-name', 'instance-id']
  ansible_host:
    description:
      - Where C(ansible_host) comes from, as a preference list; the first non-empty value wins.
      - Entries are V(private_ip_address), V(public_ip_address), V(private_dns_name), V(public_dns_name)
        and V(instance_id) (useful with the C(amazon.aws.aws_ssm) connection).
      - An empty list sets no C(ansible_host) at all.
    type: list
    elements: str
    default: [private_ip_address]
  hostvars_level:
    description:
      - V(lean) sets only the variables listed in the description; it is the fast path.
      - V(full) also sets every other attribute DescribeInstances returns, as C(ec2_<snake_case_name>)
        (for example C(ec2_vpc_id), C(ec2_security_groups), C(ec2_block_device_mappings)). It uses
        botocore's generic parser and costs several times the CPU of V(lean) on large fleets.
    type: str
    choices: [lean, full]
    default: lean
  page_size:
    description:
      - The number of instances asked for per DescribeInstances call (C(MaxResults)), 5 to 1000.
    type: int
    default: 1000
  max_threads:
    description:
      - The most regions queried at the same time.
    type: int
    default: 8
  max_attempts:
    description:
      - How many times each DescribeInstances (and STS C(AssumeRole)) call is tried, the first try included,
        with botocore's V(standard) retry mode (exponential backoff on throttling, 5xx errors and connection
        failures).
    type: int
    default: 10
"""

EXAMPLES = r"""
# cluster-a.hpc_ec2.yml: the hosts of one cluster, named by their Name tag
plugin: hpcops.aws_hpc.hpc_ec2
regions: [eu-west-1]
cluster: cluster-a

---
# all clusters in two regions, with a group per cluster and the public address for ansible_host
# (groups come out as hpc_cluster_<name>)
plugin: hpcops.aws_hpc.hpc_ec2
regions: [eu-west-1, us-east-1]
ansible_host: [public_ip_address, private_ip_address]
keyed_groups:
  - key: ec2_tags['hpc:cluster']
    prefix: hpc_cluster

---
# only running compute nodes of a given type, hostnames from a tag then the private IP,
# cached for ten minutes in a JSON file
plugin: hpcops.aws_hpc.hpc_ec2
regions: [us-east-1]
filters:
  instance-state-name: running
  instance-type: [c5n.18xlarge, hpc6a.48xlarge]
  tag:hpc:role: computenode
hostnames: ['tag:hpc:hostname', private-ip-address]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/hpc_ec2
cache_timeout: 600

---
# the embedded lab (AWS_ENDPOINT_URL from `source .lab/env` works as well)
plugin: hpcops.aws_hpc.hpc_ec2
endpoint_url: http://127.0.0.1:4566
regions: [us-east-1]
compose:
  hpc_is_primary_headnode: ec2_tags.get('hpc:primary', 'false') == 'true'

# group_vars/windows.yml next to the inventory file (the plugin sets no connection variables):
# ansible_connection: amazon.aws.aws_ssm
# ansible_shell_type: powershell

---
# another account's instances: the caller's credentials (profile "ops") assume a role there
plugin: hpcops.aws_hpc.hpc_ec2
profile: ops
assume_role_arn: arn:aws:iam::210987654321:role/hpc-inventory-read
regions: [eu-central-1]
cluster: hpc

---
# explicit keys, both templated from environment variables (prefer a profile, SSO or assume_role_arn)
plugin: hpcops.aws_hpc.hpc_ec2
access_key: "{{ lookup('ansible.builtin.env', 'HPC_INVENTORY_ACCESS_KEY') }}"
secret_key: "{{ lookup('ansible.builtin.env', 'HPC_INVENTORY_SECRET_KEY') }}"
region: eu-central-1
cluster: hpc
"""

import os
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError, AnsibleOptionsError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    AWSConfigError,
    client,
    make_session,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._inventory import (
    HOSTVARS_LEVELS,
    InventoryOptionError,
    build_filters,
    build_records,
    cache_payload,
    choose_credentials,
    credentials_identity,
    instances_of,
    options_fingerprint,
    records_from_cache,
    redact,
    validate_ansible_host,
    validate_hostnames,
    validate_region,
    validate_regions,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._inventory_parser import LeanParserFactory

try:
    import botocore.exceptions
    import botocore.session
except ImportError:  # pragma: no cover - reported in parse()
    pass


NAME = "hpcops.aws_hpc.hpc_ec2"
FILE_SUFFIXES = (".hpc_ec2.yml", ".hpc_ec2.yaml")
FILE_NAMES = ("hpc_ec2.yml", "hpc_ec2.yaml")
CLUSTER_VAR = "hpc_inventory_cluster"
ROLE_SESSION_NAME = "hpcops.aws_hpc.hpc_ec2"
# options that may be templates (as in amazon.aws.aws_ec2); credentials among them
TEMPLATABLE = ("access_key", "secret_key", "session_token", "profile", "assume_role_arn", "endpoint_url", "region")
SECRET_OPTIONS = ("access_key", "secret_key", "session_token")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = NAME

    def verify_file(self, path):
        """Accept hpc_ec2.yml / hpc_ec2.yaml and files ending in .hpc_ec2.yml / .hpc_ec2.yaml."""
        if not super(InventoryModule, self).verify_file(path):
            return False
        base = os.path.basename(path)
        return base in FILE_NAMES or base.endswith(FILE_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        if not HAS_BOTO3:
            raise AnsibleParserError("hpc_ec2: boto3 and botocore are required: %s" % BOTO3_IMPORT_ERROR)
        try:
            self._read_config_data(path)
        except AnsibleOptionsError as exc:  # a wrong type or choice; the message names the option
            raise AnsibleParserError("hpc_ec2: %s" % exc) from exc
        settings = self._settings()

        cache_key = self.get_cache_key(path)
        caching = bool(self.get_option("cache"))
        read_cache = caching and cache
        write_cache = caching and not cache
        records = None
        if read_cache:
            try:
                records = records_from_cache(self._cache[cache_key], settings["fingerprint"])
            except KeyError:
                records = None
            if records is None:
                write_cache = True
        if records is None:
            records = self._fetch_records(settings)
        if write_cache:
            self._cache[cache_key] = cache_payload(records, settings["fingerprint"])
        self._populate(records)
        if settings["cluster"]:
            self.inventory.set_variable("all", CLUSTER_VAR, settings["cluster"])

    # ---------------------------------------------------------------- options

    def _settings(self):
        """Validate the options once; every error names the option and no error shows a credential."""
        secrets = []
        credentials = {"description": "the configured credentials"}
        try:
            level = self.get_option("hostvars_level")
            if level not in HOSTVARS_LEVELS:
                raise InventoryOptionError("hostvars_level", "must be one of %s, got %r"
                                           % (", ".join(HOSTVARS_LEVELS), level))
            page_size = self.get_option("page_size")
            if not isinstance(page_size, int) or not 5 <= page_size <= 1000:
                raise InventoryOptionError("page_size", "must be a whole number from 5 to 1000, got %r" % (page_size,))
            max_threads = self.get_option("max_threads")
            if not isinstance(max_threads, int) or max_threads < 1:
                raise InventoryOptionError("max_threads", "must be a whole number of at least 1, got %r"
                                           % (max_threads,))
            max_attempts = self.get_option("max_attempts")
            if not isinstance(max_attempts, int) or max_attempts < 1:
                raise InventoryOptionError("max_attempts", "must be a whole number of at least 1, got %r"
                                           % (max_attempts,))
            values, sources = {}, {}
            for name in ("profile", *SECRET_OPTIONS):
                values[name], sources[name] = self._option_and_source(name)
            secrets = [values[name] for name in SECRET_OPTIONS]
            credentials = choose_credentials(values, sources)
            aws_config = self.get_option("aws_config")
            if aws_config is not None and not isinstance(aws_config, dict):
                raise InventoryOptionError("aws_config", "must be a dictionary of botocore Config parameters")
            cluster = self.get_option("cluster")
            settings = {
                "filters": build_filters(self.get_option("filters"), cluster),
                "cluster": _plain(cluster) if cluster else None,
                "hostnames": validate_hostnames(self.get_option("hostnames")),
                "ansible_host": validate_ansible_host(self.get_option("ansible_host")),
                "hostvars_level": level,
                "page_size": page_size,
                "max_threads": max_threads,
                "max_attempts": max_attempts,
                "endpoint_url": _plain(self._option_and_source("endpoint_url")[0]) or None,
                "credentials": credentials,
                "assume_role_arn": _plain(self._option_and_source("assume_role_arn")[0]) or None,
                "validate_certs": self.get_option("validate_certs") is not False,
                "ca_bundle": self.get_option("aws_ca_bundle") or None,
                "aws_config": dict(aws_config) if aws_config else None,
                "secrets": secrets,
            }
            region = validate_region(self._option_and_source("region")[0])
            raw_regions = self.get_option("regions")
            regions = validate_regions(raw_regions) if raw_regions else []
            # the caller's session, without the role: it resolves the default region (no AWS call), so a
            # cached run asks neither STS nor EC2; _fetch_records assumes the role when it is needed
            settings["session_region"] = region or (regions[0] if regions else None)
            session = self._session(settings, settings["session_region"], assume_role=False)
            settings["session"] = session
            settings["regions"] = regions or validate_regions([], session.region_name)
            settings["credentials_from"] = self._credentials_description(settings)
        except InventoryOptionError as exc:
            raise AnsibleParserError(redact("hpc_ec2: %s" % exc, secrets)) from None
        except (AWSConfigError, botocore.exceptions.BotoCoreError) as exc:
            raise self._session_error(exc, secrets, credentials["description"]) from None
        settings["fingerprint"] = options_fingerprint(
            regions=settings["regions"], filters=settings["filters"], hostnames=settings["hostnames"],
            ansible_host=settings["ansible_host"], hostvars_level=level,
            endpoint_url=settings["endpoint_url"], profile=credentials["profile"],
            identity=credentials_identity(credentials, settings["assume_role_arn"]))
        return settings

    def _option_and_source(self, name):
        """An option's value (templated when it is a template) and where it was set.

        The source is ``"file"`` (the inventory file), ``"env:<NAME>"`` or None (unset or default).
        A template error names the option, never the value.
        """
        value, origin = self.get_option_and_origin(name)
        if value is None or value == "" or origin == "default":
            return (value or None), None
        if name in TEMPLATABLE and isinstance(value, str) and self.templar.is_template(value):
            try:
                value = self.templar.template(value)
            except AnsibleError as exc:
                # the message is about the template (the file's text), never the value it renders
                raise InventoryOptionError(name, "cannot be templated: %s" % str(exc).splitlines()[0]) from None
            if value is None or value == "":
                return None, None
        if isinstance(origin, str) and origin.startswith("env: "):
            return value, "env:" + origin[5:]
        return value, "file"

    @staticmethod
    def _credentials_description(settings):
        """Where the credentials come from, for AWS error messages (no credential value in it)."""
        base = settings["credentials"]["description"]
        if settings["assume_role_arn"]:
            return "role %s (option assume_role_arn), assumed with %s" % (settings["assume_role_arn"], base)
        return base

    @staticmethod
    def _session(settings, region=None, assume_role=True):
        """One boto3 session for all regions; the lean hostvars level reads DescribeInstances lean.

        With ``assume_role`` and ``assume_role_arn`` the session holds the role's temporary credentials
        (one STS call).
        """
        core = botocore.session.Session()
        if settings["hostvars_level"] == "lean":
            core.register_component("response_parser_factory", LeanParserFactory())
        credentials = settings["credentials"]
        return make_session(
            profile=credentials["profile"], access_key=credentials["access_key"],
            secret_key=credentials["secret_key"], session_token=credentials["session_token"], region=region,
            botocore_session=core, assume_role_arn=settings["assume_role_arn"] if assume_role else None,
            role_session_name=ROLE_SESSION_NAME, endpoint_url=settings["endpoint_url"],
            validate_certs=settings["validate_certs"], ca_bundle=settings["ca_bundle"],
            aws_config=settings["aws_config"], max_attempts=settings["max_attempts"])

    @staticmethod
    def _session_error(exc, secrets, description):
        """The AnsibleParserError for a session that could not be set up; names the option when one is to blame."""
        if isinstance(exc, AWSConfigError):
            if exc.option:
                message = "hpc_ec2: option %s: %s" % (exc.option, exc.cause)
            else:
                message = "hpc_ec2: invalid AWS settings: %s" % exc
        elif isinstance(exc, botocore.exceptions.ProfileNotFound):
            message = "hpc_ec2: option profile: %s" % exc
        else:
            message = "hpc_ec2: cannot set up the AWS session with %s: %s" % (description, exc)
        return AnsibleParserError(redact(message, secrets))

    # ---------------------------------------------------------------- AWS

    def _fetch_records(self, settings):
        regions = settings["regions"]
        if settings["assume_role_arn"]:
            try:
                settings["session"] = self._session(settings, settings["session_region"] or regions[0])
            except (AWSConfigError, botocore.exceptions.BotoCoreError) as exc:
                raise self._session_error(exc, settings["secrets"], settings["credentials"]["description"]) from None
        # boto3 client creation is not thread-safe: make the clients here, call them in threads
        clients = {}
        for region in regions:
            try:
                clients[region] = client(
                    "ec2",
                    region=region,
                    endpoint_url=settings["endpoint_url"],
                    session=settings["session"],
                    retry_mode="standard",
                    max_attempts=settings["max_attempts"],
                    validate_certs=settings["validate_certs"],
                    ca_bundle=settings["ca_bundle"],
                    aws_config=settings["aws_config"],
                )
            except AWSConfigError as exc:
                raise AnsibleParserError("hpc_ec2: option aws_config: %s" % exc) from exc
            except botocore.exceptions.BotoCoreError as exc:
                raise AnsibleParserError(redact("hpc_ec2: cannot create the EC2 client for %s: %s" % (region, exc),
                                                settings["secrets"])) from None

        def describe(region):
            return region, self._describe(clients[region], region, settings)

        workers = min(len(regions), settings["max_threads"])
        if workers == 1:
            results = [describe(region) for region in regions]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(describe, regions))
        return build_records(dict(results), settings["hostnames"], settings["ansible_host"],
                             settings["hostvars_level"])

    @staticmethod
    def _describe(client, region, settings):
        paginator = client.get_paginator("describe_instances")
        try:
            pages = paginator.paginate(Filters=settings["filters"],
                                       PaginationConfig={"PageSize": settings["page_size"]})
            return instances_of(pages)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            message = "hpc_ec2: DescribeInstances failed in %s: %s %s" % (
                region, error.get("Code", "Error"), error.get("Message", exc))
            raise AnsibleError(redact(_with_source(message, settings), settings.get("secrets", ()))) from None
        except botocore.exceptions.BotoCoreError as exc:
            message = "hpc_ec2: DescribeInstances failed in %s: %s" % (region, exc)
            raise AnsibleError(redact(_with_source(message, settings), settings.get("secrets", ()))) from None

    # ---------------------------------------------------------------- inventory

    def _populate(self, records):
        inventory = self.inventory
        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        strict = self.get_option("strict")
        constructed = bool(compose or groups or keyed_groups)
        known = set()
        for record in records:
            name = record["name"]
            host_groups = record["groups"]
            for group in host_groups:
                if group not in known:
                    inventory.add_group(group)
                    known.add(group)
            existed = inventory.get_host(name) is not None
            inventory.add_host(name, group=host_groups[0])
            for group in host_groups[1:]:
                inventory.add_child(group, name)
            hostvars = record["vars"]
            self._set_host_vars(name, hostvars, existed)
            if constructed:
                self._set_composite_vars(compose, hostvars, name, strict=strict)
                self._add_host_to_composed_groups(groups, hostvars, name, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, hostvars, name, strict=strict)

    def _set_host_vars(self, name, hostvars, existed):
        """Store the lean host variables of a host this plugin has just added.

        ``InventoryData.set_variable`` runs every value through a visitor that tags it with the
        inventory file as its origin; at 10,000 hosts x 11 variables that visit (and printing the
        tagged values later) costs about 1.5 s of CPU, a third of a cached run. For a host this
        plugin created, the variables are stored into the host's own dict instead. The values
        stay untrusted (never templated) either way; only the origin tag, which names the
        inventory file in error messages, is not added. Hosts that already existed (another
        source listed them) go through ``set_variable`` so its merge rules apply.
        """
        host = self.inventory.get_host(name)
        host_vars = getattr(host, "vars", None)
        if existed or not isinstance(host_vars, dict):
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
        else:
            host_vars.update(hostvars)


def _with_source(message, settings):
    """Add where the credentials came from to an AWS error message (never a credential value)."""
    source = settings.get("credentials_from")
    return "%s (credentials: %s)" % (message, source) if source else message


def _plain(value):
    """An option value as a plain ``str`` (option values may carry Ansible's data tags)."""
    return value if value is None else str(value).encode("utf-8").decode("utf-8")
