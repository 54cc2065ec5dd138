output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "VPC CIDR."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Private subnets (EKS nodes, RDS), one per availability zone."
  value       = [for az in local.azs : aws_subnet.private[az].id]
}

output "private_subnet_cidrs" {
  description = "CIDRs of the private subnets (where RDS runs): the charts' NetworkPolicy egress to the database."
  value       = [for az in local.azs : aws_subnet.private[az].cidr_block]
}

output "public_subnet_ids" {
  description = "Public subnets (NAT gateways, internet-facing load balancers)."
  value       = [for az in local.azs : aws_subnet.public[az].id]
}
