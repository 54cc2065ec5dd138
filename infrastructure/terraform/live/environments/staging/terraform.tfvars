environment                  = "staging"
region                       = "eu-west-1"
vpc_cidr                     = "10.20.0.0/16"
availability_zone_count      = 3
single_nat_gateway           = true
kubernetes_version           = "1.33"
system_node_instance_types   = ["m7i.large"]
system_node_count            = { min = 3, max = 6 }
training_node_instance_types = ["m7i.2xlarge", "m6i.2xlarge"]
training_node_max            = 5
db_instance_class            = "db.t4g.large"
db_multi_az                  = false
db_backup_retention_days     = 14
backup_object_lock_days      = 14
