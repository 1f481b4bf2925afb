# HPC Pack image, built once per role from this one template: hpc_role = headnode (hpc:role=headnode,
# launch template hpc-<cluster>-headnode) or computenode (hpc:role=computenode, launch template
# hpc-<cluster>-computenode). Windows Server with Chocolatey and the AWS CLI, the HPC Pack installer
# copied from the payload bucket and unpacked (the role-specific setup runs at deployment, when the
# head node's name is known), the latest Windows updates, and EC2Launch's sysprep last.
# See docs/bakery.md.

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
  description = "winrm on AWS; none in the lab, where no instance really boots and the provisioners are skipped."
  default     = "winrm"
  validation {
    condition     = contains(["winrm", "none"], var.communicator)
    error_message = "The communicator must be winrm (AWS) or none (the lab)."
  }
}

variable "ami_name" {
  type        = string
  description = "Name of the new AMI (unique in the region; the bakery adds the date and time)."
  default     = "hpc-hpcpack"
}

variable "tags" {
  type        = map(string)
  description = "Tags of the AMI and its snapshots (the bakery sets hpc:image, hpc:role, hpc:input-hash, hpc:bake-date)."
  default     = {}
}

variable "source_ami_name" {
  type        = string
  description = "Name pattern of the source AMI; the newest match wins."
  default     = "Windows_Server-2016-English-Full-Base-*"
}

variable "source_ami_owners" {
  type        = list(string)
  description = "Owners of the source AMI."
  default     = ["amazon"]
}

variable "instance_type" {
  type    = string
  default = "m5.large"
}

variable "subnet_id" {
  type        = string
  description = "Subnet of the build instance; empty = the default VPC. It needs a route to S3 and Windows Update."
  default     = ""
}

variable "iam_instance_profile" {
  type        = string
  description = "Instance profile of the build instance (read access to the payload bucket)."
  default     = ""
}

variable "root_volume_size" {
  type    = number
  default = 100
}

variable "hpc_role" {
  type        = string
  description = "The HPC Pack role the image is for."
  default     = "computenode"
  validation {
    condition     = contains(["headnode", "computenode"], var.hpc_role)
    error_message = "The hpc_role must be headnode or computenode."
  }
}

variable "payload_bucket" {
  type        = string
  description = "S3 bucket holding the HPC Pack installer (the cluster's payload bucket); required with winrm."
  default     = ""
}

variable "hpcpack_installer_key" {
  type        = string
  description = "Key of the HPC Pack installer archive in the payload bucket."
  default     = "hpcpack/HPCPack2016-Update3.zip"
}

variable "windows_update" {
  type        = bool
  description = "Install the pending Windows updates."
  default     = true
}

locals {
  # communicator = none (the lab): nothing can run inside the instance, so every provisioner is skipped.
  skip_provisioners = var.communicator == "none" ? ["amazon-ebs.hpcpack"] : []
  scripts           = "${path.root}/../scripts/windows"
  image_tags        = merge(var.tags, { Name = var.ami_name, "hpc:source-ami" = "{{ .SourceAMI }}" })
}

source "amazon-ebs" "hpcpack" {
  region                     = var.region
  custom_endpoint_ec2        = var.aws_endpoint
  skip_credential_validation = var.skip_aws_checks
  skip_metadata_api_check    = var.skip_aws_checks
  skip_region_validation     = var.skip_aws_checks
  max_retries                = var.aws_max_retries

  source_ami_filter {
    filters = {
      name               = var.source_ami_name
      "root-device-type" = "ebs"
    }
    owners      = var.source_ami_owners
    most_recent = true
  }

  instance_type        = var.instance_type
  subnet_id            = var.subnet_id
  iam_instance_profile = var.iam_instance_profile
  ami_name             = var.ami_name
  ami_description      = "HPC Pack ${var.hpc_role} image baked by hpcops.aws_hpc from {{ .SourceAMIName }}"

  launch_block_device_mappings {
    device_name           = "/dev/sda1"
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    throughput            = 125
    iops                  = 3000
    delete_on_termination = true
  }

  # WinRM over HTTPS only: the user data creates a self-signed certificate and an HTTPS listener;
  # Packer reads the Administrator password with the temporary key pair.
  communicator   = var.communicator
  user_data_file = "${local.scripts}/bootstrap-winrm.ps1"
  winrm_username = "Administrator"
  winrm_use_ssl  = true
  winrm_insecure = true
  winrm_port     = 5986
  winrm_timeout  = "30m"

  run_tags      = { Name = "packer ${var.ami_name}", "hpc:bake" = "true" }
  tags          = local.image_tags
  snapshot_tags = local.image_tags
}

build {
  sources = ["source.amazon-ebs.hpcpack"]

  provisioner "powershell" {
    except = local.skip_provisioners
    script = "${local.scripts}/install-tools.ps1"
  }

  provisioner "powershell" {
    except = local.skip_provisioners
    script = "${local.scripts}/install-hpcpack.ps1"
    environment_vars = [
      "HPC_PAYLOAD_BUCKET=${var.payload_bucket}",
      "HPC_INSTALLER_KEY=${var.hpcpack_installer_key}",
      "HPC_ROLE=${var.hpc_role}",
      "AWS_DEFAULT_REGION=${var.region}",
    ]
  }

  provisioner "powershell" {
    except           = local.skip_provisioners
    script           = "${local.scripts}/windows-update.ps1"
    environment_vars = ["HPC_WINDOWS_UPDATE=${var.windows_update}"]
  }

  provisioner "windows-restart" {
    except          = local.skip_provisioners
    restart_timeout = "45m"
  }

  # Updates that need the first reboot to be offered.
  provisioner "powershell" {
    except           = local.skip_provisioners
    script           = "${local.scripts}/windows-update.ps1"
    environment_vars = ["HPC_WINDOWS_UPDATE=${var.windows_update}"]
  }

  provisioner "windows-restart" {
    except          = local.skip_provisioners
    restart_timeout = "45m"
  }

  # Last: EC2Launch's sysprep generalises the image (new SID, password and host name on first boot).
  provisioner "powershell" {
    except = local.skip_provisioners
    script = "${local.scripts}/sysprep.ps1"
  }
}
