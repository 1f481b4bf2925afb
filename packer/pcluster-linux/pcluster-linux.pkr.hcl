# Linux image for AWS ParallelCluster's Image.CustomAmi (hpc:role=pcluster): the official
# ParallelCluster AMI of the chosen OS and pcluster version, plus the Slurm-side payloads (prolog,
# epilog and job environment scripts) from the payload bucket. It carries the tags pcluster's
# CustomAmiTagValidator reads: parallelcluster:version (must equal the installed pcluster's version)
# and parallelcluster:build_status. See docs/bakery.md.

packer {
  required_version = ">= 1.6.6"
}

variable "region" {
  type        = string
  description = "Region the AMI is built in."
  default     = "us-east-1"
}

variable "aws_endpoint" {
  type        = string
  description = "EC2 endpoint URL; empty = the region's public endpoint. The lab points it at its embedded endpoint."
  default     = ""
}

variable "skip_aws_checks" {
  type        = bool
  description = "Skip credential, metadata and region validation (only for the lab's embedded endpoint)."
  default     = false
}

variable "aws_max_retries" {
  type        = number
  description = "Packer's max_retries: how often an AWS call that was throttled or failed with a 5xx error is retried; 0 = the SDK's default. See docs/bakery.md, Throttling."
  default     = 0
}

variable "communicator" {
  type        = string
  description = "ssh on AWS; none in the lab, where no instance really boots and the provisioners are skipped."
  default     = "ssh"
  validation {
    condition     = contains(["ssh", "none"], var.communicator)
    error_message = "The communicator must be ssh (AWS) or none (the lab)."
  }
}

variable "ami_name" {
  type        = string
  description = "Name of the new AMI (unique in the region; the bakery adds the date and time)."
  default     = "hpc-pcluster-linux"
}

variable "tags" {
  type        = map(string)
  description = "Tags of the AMI and its snapshots (the bakery sets hpc:image, hpc:role, hpc:input-hash, hpc:bake-date)."
  default     = {}
}

variable "pcluster_version" {
  type        = string
  description = "Version of the pcluster CLI that will use the image (tag parallelcluster:version)."
  default     = "3.16.1"
}

variable "pcluster_os" {
  type        = string
  description = "ParallelCluster OS name in the AMI name: alinux2023, alinux2, ubuntu2204, rhel8, rocky9, ..."
  default     = "alinux2023"
}

variable "source_ami_name" {
  type        = string
  description = "Name pattern of the source AMI; empty = the official ParallelCluster AMI of pcluster_os and pcluster_version."
  default     = ""
}

variable "source_ami_owners" {
  type        = list(string)
  description = "Owners of the source AMI."
  default     = ["amazon"]
}

variable "ssh_username" {
  type        = string
  description = "Login of the source AMI: ec2-user (Amazon Linux, RHEL), ubuntu, rocky."
  default     = "ec2-user"
}

variable "instance_type" {
  type    = string
  default = "c5.large"
}

variable "subnet_id" {
  type        = string
  description = "Subnet of the build instance; empty = the default VPC."
  default     = ""
}

variable "iam_instance_profile" {
  type        = string
  description = "Instance profile of the build instance (read access to the payload bucket)."
  default     = ""
}

variable "root_volume_size" {
  type    = number
  default = 40
}

variable "payload_bucket" {
  type        = string
  description = "S3 bucket holding the Slurm-side payloads; empty = none are installed."
  default     = ""
}

variable "payload_prefix" {
  type        = string
  description = "Key prefix of the Slurm-side payloads in the payload bucket."
  default     = "slurm/"
}

locals {
  # communicator = none (the lab): nothing can run inside the instance, so every provisioner is skipped.
  skip_provisioners = var.communicator == "none" ? ["amazon-ebs.pcluster"] : []
  scripts           = "${path.root}/../scripts/linux"
  source_ami_name   = var.source_ami_name != "" ? var.source_ami_name : "aws-parallelcluster-${var.pcluster_version}-${replace(var.pcluster_os, "alinux", "amzn")}-hvm-x86_64-*"
  image_tags = merge(var.tags, {
    Name                           = var.ami_name
    "hpc:source-ami"               = "{{ .SourceAMI }}"
    "parallelcluster:version"      = var.pcluster_version
    "parallelcluster:build_status" = "available"
    "parallelcluster:os"           = var.pcluster_os
  })
}

source "amazon-ebs" "pcluster" {
  region                     = var.region
  custom_endpoint_ec2        = var.aws_endpoint
  skip_credential_validation = var.skip_aws_checks
  skip_metadata_api_check    = var.skip_aws_checks
  skip_region_validation     = var.skip_aws_checks
  max_retries                = var.aws_max_retries

  source_ami_filter {
    filters = {
      name               = local.source_ami_name
      "root-device-type" = "ebs"
    }
    owners      = var.source_ami_owners
    most_recent = true
  }

  instance_type        = var.instance_type
  subnet_id            = var.subnet_id
  iam_instance_profile = var.iam_instance_profile
  ami_name             = var.ami_name
  ami_description      = "ParallelCluster ${var.pcluster_version} custom AMI baked by hpcops.aws_hpc from {{ .SourceAMIName }}"

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    throughput            = 125
    iops                  = 3000
    delete_on_termination = true
  }

  communicator = var.communicator
  ssh_username = var.ssh_username
  ssh_timeout  = "15m"

  run_tags      = { Name = "packer ${var.ami_name}", "hpc:bake" = "true" }
  tags          = local.image_tags
  snapshot_tags = local.image_tags
}

build {
  sources = ["source.amazon-ebs.pcluster"]

  provisioner "shell" {
    except          = local.skip_provisioners
    script          = "${local.scripts}/install-payloads.sh"
    execute_command = "sudo -E bash '{{ .Path }}'"
    environment_vars = [
      "HPC_PAYLOAD_BUCKET=${var.payload_bucket}",
      "HPC_PAYLOAD_PREFIX=${var.payload_prefix}",
      "AWS_DEFAULT_REGION=${var.region}",
    ]
  }

  # Last: ParallelCluster's own cleanup (logs, keys, cloud-init state) so the image boots as new.
  provisioner "shell" {
    except          = local.skip_provisioners
    script          = "${local.scripts}/cleanup.sh"
    execute_command = "sudo -E bash '{{ .Path }}'"
  }
}
