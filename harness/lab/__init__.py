"""The running lab: its Vagrant machines, SSH to its nodes, provisioning, evidence."""
