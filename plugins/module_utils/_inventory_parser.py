# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lean DescribeInstances response parser of the ``hpc_ec2`` inventory plugin (private: not a public API).

``parse_describe_instances`` reads the XML body with ElementTree (C accelerated) and keeps only the
fields a host record needs, in the same CamelCase shape botocore's generic parser produces for them,
at a fraction of the CPU cost. ``LeanParserFactory`` puts it in front of botocore's EC2 parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

try:
    from botocore.parsers import ResponseParserFactory
except ImportError:  # pragma: no cover - the plugin reports the missing library itself
    ResponseParserFactory = object

# Direct children of an instance <item> that the lean parser keeps: XML tag -> response key.
_SCALAR_FIELDS = {
    "instanceId": "InstanceId",
    "imageId": "ImageId",
    "instanceType": "InstanceType",
    "launchTime": "LaunchTime",
    "platform": "Platform",
    "privateIpAddress": "PrivateIpAddress",
    "ipAddress": "PublicIpAddress",
    "privateDnsName": "PrivateDnsName",
    "dnsName": "PublicDnsName",
    "vpcId": "VpcId",
    "subnetId": "SubnetId",
}


def parse_describe_instances(body):
    """Parse a DescribeInstances XML body into the subset of botocore's parsed shape we use.

    Returns ``{"Reservations": [{"Instances": [...]}], "NextToken": ..., "ResponseMetadata":
    {"RequestId": ...}}`` where every instance carries only InstanceId, ImageId, InstanceType,
    LaunchTime (the ISO 8601 string as sent), State.Name, Placement.AvailabilityZone, Platform,
    PrivateIpAddress, PublicIpAddress, PrivateDnsName, PublicDnsName, VpcId, SubnetId and Tags,
    each present exactly when botocore's generic parser would include it.
    """
    root = ET.fromstring(body)  # noqa: S314 - the body comes from the configured AWS endpoint
    tag = root.tag
    names = _XmlNames(tag[: tag.index("}") + 1] if tag.startswith("{") else "")
    reservations = []
    parsed = {"Reservations": reservations}
    for child in root:
        ctag = child.tag
        if ctag == names.reservation_set:
            for reservation in child.iterfind(names.item):
                instances = []
                for inst_set in reservation.iterfind(names.instances_set):
                    instances.extend(_lean_instance(node, names) for node in inst_set.iterfind(names.item))
                reservations.append({"Instances": instances})
        elif ctag == names.next_token:
            parsed["NextToken"] = child.text or ""
        elif ctag == names.request_id:
            parsed["ResponseMetadata"] = {"RequestId": child.text or ""}
    return parsed


class _XmlNames:
    """The namespace-qualified tag names of one response (EC2 answers in its API version's namespace)."""

    def __init__(self, ns):
        self.item = ns + "item"
        self.reservation_set = ns + "reservationSet"
        self.instances_set = ns + "instancesSet"
        self.next_token = ns + "nextToken"
        self.request_id = ns + "requestId"
        self.scalar = {ns + k: v for k, v in _SCALAR_FIELDS.items()}
        self.state = ns + "instanceState"
        self.placement = ns + "placement"
        self.tag_set = ns + "tagSet"
        self.name = ns + "name"
        self.zone = ns + "availabilityZone"
        self.key = ns + "key"
        self.value = ns + "value"


def _lean_instance(node, names):
    instance = {}
    scalar = names.scalar
    for child in node:
        ctag = child.tag
        key = scalar.get(ctag)
        if key is not None:
            instance[key] = child.text or ""
        elif ctag == names.state:
            state = {}
            name = child.find(names.name)
            if name is not None:
                state["Name"] = name.text or ""
            instance["State"] = state
        elif ctag == names.placement:
            placement = {}
            zone = child.find(names.zone)
            if zone is not None:
                placement["AvailabilityZone"] = zone.text or ""
            instance["Placement"] = placement
        elif ctag == names.tag_set:
            tags = []
            for tag in child.iterfind(names.item):
                entry = {}
                k = tag.find(names.key)
                if k is not None:
                    entry["Key"] = k.text or ""
                v = tag.find(names.value)
                if v is not None:
                    entry["Value"] = v.text or ""
                tags.append(entry)
            instance["Tags"] = tags
    return instance


class LeanDescribeInstancesParser:
    """A botocore response parser that reads successful DescribeInstances bodies the lean way.

    Only HTTP 200 responses for the ``DescribeInstancesResult`` shape are parsed by
    :func:`parse_describe_instances`; everything else (errors, throttling, every other operation)
    goes to botocore's own parser, so retries and error handling behave exactly as usual.
    """

    OUTPUT_SHAPE = "DescribeInstancesResult"

    def __init__(self, standard):
        self._standard = standard

    def parse(self, response, shape):
        if response.get("status_code") != 200 or shape is None or shape.name != self.OUTPUT_SHAPE:
            return self._standard.parse(response, shape)
        try:
            parsed = parse_describe_instances(response["body"])
        except ET.ParseError:
            return self._standard.parse(response, shape)  # let botocore report the malformed body
        metadata = parsed.setdefault("ResponseMetadata", {})
        metadata["HTTPStatusCode"] = 200
        metadata["HTTPHeaders"] = {k.lower(): v for k, v in response.get("headers", {}).items()}
        return parsed


class LeanParserFactory(ResponseParserFactory):
    """botocore ``response_parser_factory`` component that puts the lean parser in front for EC2."""

    def create_parser(self, protocol_name):
        parser = super(LeanParserFactory, self).create_parser(protocol_name)
        if protocol_name == "ec2":
            return LeanDescribeInstancesParser(parser)
        return parser
