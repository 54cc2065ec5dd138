# MLflow tracking server: the registry database's password (its backend store URI). Read only;
# artifacts reach S3 through the server's cloud identity (IRSA), not through Vault.
path "secret/data/mlops/+/registry" {
  capabilities = ["read"]
}
