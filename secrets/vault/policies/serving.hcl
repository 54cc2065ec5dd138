# Online serving (champion and shadow challenger): its own credentials and the online
# feature store. Read only; no access to the PII hash key or backups.
path "secret/data/mlops/+/serving" {
  capabilities = ["read"]
}

path "secret/data/mlops/+/feature-store" {
  capabilities = ["read"]
}
