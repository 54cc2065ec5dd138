variable "environment" {
  description = "Environment name; the workloads' namespace is mlops-<environment>."
  type        = string
}

variable "kfp_namespace" {
  description = "Namespace where Kubeflow Pipelines runs pipeline steps (single-user mode: kubeflow)."
  type        = string
  default     = "kubeflow"
}
