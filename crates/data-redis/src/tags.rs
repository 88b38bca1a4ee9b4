//! ElastiCache tags: read by ARN, converged by adding and removing keys (core's kit).

layer_core::arn_tags!(aws_sdk_elasticache, "elasticache");
