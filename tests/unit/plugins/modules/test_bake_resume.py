"""A bake killed mid-publish or mid-build resumes without leftovers (moto in-process)."""

from __future__ import annotations

import types

import boto3
from moto import mock_aws

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _bake
from ansible_collections.hpcops.aws_hpc.plugins.modules import bake_publish

IMAGE = "ami-0123456789abcdef0"  # moto loads no public AMIs here (MOTO_EC2_LOAD_DEFAULT_AMIS=false: fast)


def _template(ec2):
    image = IMAGE
    ec2.create_launch_template(LaunchTemplateName="hpc-unit-computenode",
                               LaunchTemplateData={"ImageId": image, "InstanceType": "c5.large"})


def _versions(ec2):
    return ec2.describe_launch_template_versions(LaunchTemplateName="hpc-unit-computenode")["LaunchTemplateVersions"]


def test_a_version_left_by_a_killed_publish_is_reused(moto_credentials):
    moto_credentials.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        _template(ec2)
        pub = types.SimpleNamespace(ec2=ec2, region="us-east-1")
        change = {"name": "hpc-unit-computenode", "action": "update", "source_version": 1, "image_id": "ami-0abc"}
        # the killed run: the version exists, the default did not move yet
        ec2.create_launch_template_version(LaunchTemplateName=change["name"], SourceVersion="1",
                                           VersionDescription="hpcops bake: image computenode -> ami-0abc",
                                           LaunchTemplateData={"ImageId": "ami-0abc"})
        bake_publish.Publisher.update_template(pub, dict(change), "computenode")
        assert len(_versions(ec2)) == 2
        default = ec2.describe_launch_template_versions(LaunchTemplateName=change["name"],
                                                        Versions=["$Default"])["LaunchTemplateVersions"][0]
        assert default["VersionNumber"] == 2
        assert default["LaunchTemplateData"]["ImageId"] == "ami-0abc"
        # another image: a new version as before
        bake_publish.Publisher.update_template(pub, dict(change, image_id="ami-0def", source_version=2),
                                               "computenode")
        assert len(_versions(ec2)) == 3


def test_leftovers_of_a_real_builder(moto_credentials):
    moto_credentials.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    """What moto answers for a builder left running by a killed Packer is recognised."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = IMAGE
        ec2.create_key_pair(KeyName="packer_1234")
        group = ec2.create_security_group(GroupName="packer_5678", Description="Temporary group for Packer")["GroupId"]
        builder = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, KeyName="packer_1234",
                                    SecurityGroupIds=[group], TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                        {"Key": "Name", "Value": "packer hpc-unit-computenode-20261201-101010"},
                                        {"Key": "hpc:bake", "Value": "true"}]}])["Instances"][0]["InstanceId"]
        ami = ec2.create_image(InstanceId=builder, Name="hpc-unit-computenode-20261201-101010")["ImageId"]
        instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        found = _bake.leftovers("unit", ["computenode"], instances=instances,
                                amis=ec2.describe_images(Owners=["self"])["Images"],
                                snapshots=ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"],
                                key_pairs=["packer_1234"], security_groups=[group])
        assert found["instances"] == [builder]
        assert found["images"] == [ami]
        assert found["key_pairs"] == ["packer_1234"]
        assert found["security_groups"] == [group]
        assert found["snapshots"]
        # another cluster's run finds none of it
        other = _bake.leftovers("other", ["computenode"], instances=instances,
                                amis=ec2.describe_images(Owners=["self"])["Images"],
                                snapshots=ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"],
                                key_pairs=["packer_1234"], security_groups=[group])
        assert not any(other.values())
