variable "environment" {
  description = "Environment name (dev, staging, prod): the workloads' namespace is mlops-<environment>."
  type        = string
}

variable "kfp_namespace" {
  description = "Namespace where Kubeflow Pipelines runs pipeline steps (single-user mode: kubeflow)."
  type        = string
  default     = "kubeflow"
}
