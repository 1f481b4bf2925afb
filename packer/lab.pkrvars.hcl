# Settings of the embedded lab (moto on 127.0.0.1): no instance really boots there, so there is no
# communicator and every provisioner is skipped; Packer still resolves the source AMI, launches and
# stops the build instance, creates the AMI and tags it and its snapshots. The EC2 endpoint itself
# comes from the bakery (hpc_aws_endpoint_url), its port being chosen when the lab starts.
communicator    = "none"
skip_aws_checks = true
