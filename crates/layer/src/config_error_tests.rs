//! Configuration errors per bad input, as one snapshot: each case's edit of the local
//! environment and the one message loading it gives, offline and in milliseconds (the end-to-end
//! table in `bins/tests/cli/bad_input.rs` proves the same cases write nothing to AWS).

/// Each case: its name, the text replaced in `local.toml`, and its replacement.
const CASES: &[(&str, &str, &str)] = &[
    ("unknown top-level key", "max_attempts = 3", "max_attempts = 3\nregoin = \"eu-central-2\""),
    ("unknown key in a family's section", "[aurora]\n", "[aurora]\ninstance_klass = \"db.t4g.medium\"\n"),
    ("wrong type", "max_attempts = 3", "max_attempts = \"three\""),
    ("concurrency out of range", "max_attempts = 3", "max_attempts = 3\nconcurrency = 0"),
    ("multi-AZ without failover", "multi_az_enabled = false", "multi_az_enabled = true"),
    ("failover without a replica", "automatic_failover_enabled = false", "automatic_failover_enabled = true"),
    ("Grafana in eu-central-2", "enable_managed_grafana = false", "enable_managed_grafana = true"),
    ("unknown Bedrock source type", "[monitoring]\n", "[bedrock.inference_profiles]\nmystery = { source = \"amazon.titan-embed-text-v2:0\", source_type = \"model\" }\n\n[monitoring]\n"),
    ("account id malformed", "[\"123456789012\"]", "[\"12345\"]"),
    ("malformed endpoint-definitions template", "[secrets]\n", "[secrets]\nendpoint_definitions_template = '[{\"endpoint\": '\n"),
    ("KMS alias where an ARN is needed", "[infrastructure]\n", "[infrastructure]\ngeneral_kms_key_arn = \"alias/general\"\n"),
    ("KMS key in another region", "[infrastructure]\n", "[infrastructure]\ngeneral_kms_key_arn = \"arn:aws:kms:eu-west-1:123456789012:key/abc\"\n"),
    ("uppercase naming id", "naming_id = \"dal-local\"", "naming_id = \"DAL-Local\""),
    ("name too long for ElastiCache", "naming_id = \"dal-local\"", "naming_id = \"a-naming-id-far-too-long-for-elasticache-ids\""),
    ("log retention CloudWatch refuses", "[redis]\n", "[redis]\nlog_retention_days = 31\n"),
    ("no Aurora instance", "instance_count = 1", "instance_count = 0"),
    ("unknown instance class", "instance_class = \"db.t4g.medium\"", "instance_class = \"db.z9.large\""),
    ("backup retention out of range", "[aurora]\n", "[aurora]\nbackup_retention_days = 40\n"),
    ("reserved tag key", "max_attempts = 3", "max_attempts = 3\ntags = { \"aws:owner\" = \"me\" }"),
    ("VPC CIDR malformed", "[infrastructure]\n", "[infrastructure]\nvpc_cidr = \"10.0.0.0/33\"\n"),
    ("one isolated subnet", "[infrastructure]\n", "[infrastructure]\nisolated_subnet_ids = [\"subnet-1\"]\n"),
    ("run lock lease too short", "lease_seconds = 10", "lease_seconds = 1"),
    ("secret recovery window AWS refuses", "recovery_window_days = 0", "recovery_window_days = 3"),
    ("connection string query with a leading ?", "[secrets]\n", "[secrets]\nconnection_string_query = \"?sslmode=require\"\n"),
    ("Redis port of the wrong type", "[redis]\n", "[redis]\nport = \"6380\"\n"),
    ("a broken file", "[verify]\n", "[verify\n"),
];

#[test]
fn every_bad_input_gets_its_one_message_at_load() {
    let source = crate::manifest_dir().join("../../environments");
    let mut out = String::new();
    for (name, from, to) in CASES {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for entry in std::fs::read_dir(&source).expect("environments/").flatten() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copied");
        }
        let file = dir.path().join("local.toml");
        let text = std::fs::read_to_string(&file).expect("local.toml");
        assert!(text.contains(from), "{name}: `{from}` is not in local.toml");
        std::fs::write(&file, text.replacen(from, to, 1)).expect("written");
        let err = crate::load(dir.path(), "local")
            .expect_err(name)
            .to_string();
        let err = err.replace(&dir.path().display().to_string(), "<environments>");
        // One line, naming the file; a file that is not TOML also shows where, as TOML's parser
        // draws it.
        assert!(
            err.starts_with("<environments>/"),
            "{name}: names the file: {err}"
        );
        if *name != "a broken file" {
            assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        }
        out.push_str(&format!("{name}\n  {err}\n"));
    }
    expect_test::expect![[r#"
        unknown top-level key
          <environments>/local.toml: unknown key `regoin`; remove it or use one of: allowed_account_ids, assume_role_arn, aurora, bedrock, concurrency, endpoint_url, infrastructure, local, max_attempts, monitoring, naming_id, outputs, protected, redis, region, run_lock, s3, secrets, tags, tags_by_resource, verify, wait_timeout_minutes
        unknown key in a family's section
          <environments>/local.toml: key `aurora.instance_klass`: unknown field `instance_klass`, expected one of `instance_class`, `instance_count`, `deletion_protection`, `skip_final_snapshot`, `enable_endpoint`, `engine_version`, `database_name`, `postgresql_databases`, `backup_retention_days`, `performance_insights`, `log_retention_days`, `force_ssl`, `master_password_rotation_days`, `names`; remove or rename it
        wrong type
          <environments>/local.toml: key `max_attempts`: invalid type: string "three", expected u32 in `max_attempts`; fix its value
        concurrency out of range
          <environments>/local.toml: key `concurrency`: use a number from 1 to 64
        multi-AZ without failover
          <environments>/local.toml: key `redis.multi_az_enabled`: multi-AZ needs automatic_failover_enabled = true
        failover without a replica
          <environments>/local.toml: key `redis.automatic_failover_enabled`: automatic failover needs num_cache_nodes of 2 or more
        Grafana in eu-central-2
          <environments>/local.toml: key `monitoring.enable_managed_grafana`: Managed Grafana is not available in eu-central-2; set it to false
        unknown Bedrock source type
          <environments>/local.toml: key `bedrock.inference_profiles.mystery.source_type`: unknown variant `model`, expected `inference-profile` or `foundation-model` in `inference_profiles.mystery.source_type`; fix its value
        account id malformed
          <environments>/local.toml: key `allowed_account_ids`: list at least one 12-digit AWS account id
        malformed endpoint-definitions template
          <environments>/local.toml: key `secrets.endpoint_definitions_template`: not valid JSON (EOF while parsing a value at line 1 column 14); give a JSON document with "${litellm_master_key}" where the LiteLLM master key goes
        KMS alias where an ARN is needed
          <environments>/local.toml: key `infrastructure.general_kms_key_arn`: `alias/general` is not a KMS key ARN (arn:aws:kms:eu-central-2:<account>:key/<id>); an alias or key id is not accepted, find the ARN with `aws kms describe-key --key-id alias/general --query KeyMetadata.Arn`
        KMS key in another region
          <environments>/local.toml: key `infrastructure.general_kms_key_arn`: `arn:aws:kms:eu-west-1:123456789012:key/abc` is a key in region eu-west-1, but the environment is in eu-central-2; KMS keys are regional
        uppercase naming id
          <environments>/local.toml: key `naming_id`: naming id `DAL-Local` is not valid: use 1 to 32 lowercase letters, digits and single hyphens, starting with a letter
        name too long for ElastiCache
          <environments>/local.toml: key `naming_id`: naming id `a-naming-id-far-too-long-for-elasticache-ids` is not valid: use 1 to 32 lowercase letters, digits and single hyphens, starting with a letter
        log retention CloudWatch refuses
          <environments>/local.toml: key `redis.log_retention_days`: CloudWatch Logs does not accept 31 days; use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
        no Aurora instance
          <environments>/local.toml: key `aurora.instance_count`: an Aurora cluster needs at least one instance; use 1 or more
        unknown instance class
          <environments>/local.toml: key `aurora.instance_class`: `db.z9.large` is not an Aurora PostgreSQL instance class; use db.<family>.<size> with a family of r5, r6g, r6gd, r6i, r6id, r7g, r7i, r8g, x2g, t3, t4g
        backup retention out of range
          <environments>/local.toml: key `aurora.backup_retention_days`: use 1 to 35 days
        reserved tag key
          <environments>/local.toml: key `tags.aws:owner`: `aws:owner`: tag keys starting with `aws:` are reserved for AWS
        VPC CIDR malformed
          <environments>/local.toml: key `infrastructure.vpc_cidr`: `10.0.0.0/33`: a VPC's block is between /16 and /28
        one isolated subnet
          <environments>/local.toml: key `infrastructure.isolated_subnet_ids`: Aurora and ElastiCache need isolated subnets in at least two availability zones; list two or more
        run lock lease too short
          <environments>/local.toml: key `run_lock.lease_seconds`: use 5 to 3600: the holder renews the lease every third of it, and a killed run blocks the next one that long
        secret recovery window AWS refuses
          <environments>/local.toml: key `secrets.recovery_window_days`: Secrets Manager accepts 0 (immediate) or 7 to 30 days
        connection string query with a leading ?
          <environments>/local.toml: key `secrets.connection_string_query`: give the query without `?`, `#` or spaces, e.g. `sslmode=verify-full`
        Redis port of the wrong type
          <environments>/local.toml: key `redis.port`: invalid type: string "6380", expected u16 in `port`; fix its value
        a broken file
          <environments>/local.toml: not valid TOML: TOML parse error at line 38, column 8
           |
        38 | [verify
           |        ^
        invalid table header
        expected `.`, `]`

    "#]].assert_eq(&out);
}
