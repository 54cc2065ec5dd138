environment                  = "prod"
region                       = "eu-west-1"
vpc_cidr                     = "10.30.0.0/16"
availability_zone_count      = 3
single_nat_gateway           = false
kubernetes_version           = "1.33"
system_node_instance_types   = ["m7i.xlarge"]
system_node_count            = { min = 3, max = 10 }
training_node_instance_types = ["m7i.4xlarge", "m6i.4xlarge"]
training_node_max            = 10
db_instance_class            = "db.m7g.large"
db_multi_az                  = true
db_backup_retention_days     = 35
backup_object_lock_days      = 35
