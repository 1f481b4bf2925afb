# The plugins this template needs, for Packer 1.7 and later: `packer init <this directory>` installs
# them, and the execution environment ships them pinned (execution-environment.yml,
# PACKER_AMAZON_PLUGIN_VERSION). Packer 1.6.6 (Debian) has the amazon builders built in and rejects
# this block, so the bakery hands Packer before 1.7 the template file alone, without this file.
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.3, < 2.0.0"
    }
  }
}
