"""Conformance of the local AWS gateway, checked by a client we did not write.

Drives every operation the gateway serves itself (Bedrock inference profiles and foundation
models, Managed Grafana, ElastiCache parameter groups) and every emulator deviation it corrects,
with boto3, and validates each response against botocore's service model for the operation:
required members, types, enums, patterns and lengths. Asserts that responses carry what was set
and that errors carry the codes AWS uses.

Usage: python boto3_conformance.py <endpoint>
Prints 'N passed, M failed' and exits non-zero on any failure.
"""

import datetime
import re
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
REGION = "eu-central-2"
ACCOUNT = "123456789012"
SESSION = boto3.session.Session(aws_access_key_id="conformance", aws_secret_access_key="x", region_name=REGION)
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
CLIENTS = {}
RESULTS = {"passed": 0, "failed": 0}


def client(name):
    if name not in CLIENTS:
        CLIENTS[name] = SESSION.client(name, endpoint_url=ENDPOINT, config=CONFIG)
    return CLIENTS[name]


class Invalid(Exception):
    pass


def validate(shape, value, path):
    """Check a parsed value against a botocore shape."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise Invalid(f"{path}: expected a structure, got {type(value).__name__}")
        for req in shape.required_members:
            if req not in value:
                raise Invalid(f"{path}: required member {req} is missing")
        for key, v in value.items():
            if key == "ResponseMetadata":
                continue
            if key not in shape.members:
                raise Invalid(f"{path}: unknown member {key}")
            validate(shape.members[key], v, f"{path}.{key}")
    elif t == "list":
        if not isinstance(value, list):
            raise Invalid(f"{path}: expected a list")
        check_len(shape, len(value), path)
        for i, v in enumerate(value):
            validate(shape.member, v, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            raise Invalid(f"{path}: expected a map")
        for k, v in value.items():
            validate(shape.key, k, f"{path}<key>")
            validate(shape.value, v, f"{path}.{k}")
    elif t == "string":
        if not isinstance(value, str):
            raise Invalid(f"{path}: expected a string, got {value!r}")
        if shape.enum and value not in shape.enum:
            raise Invalid(f"{path}: {value!r} is not one of {shape.enum}")
        check_len(shape, len(value), path)
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                rx = re.compile(pattern)
            except re.error:
                rx = None
            if rx is not None and not rx.search(value):
                raise Invalid(f"{path}: {value!r} does not match {pattern}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"{path}: expected an integer, got {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"{path}: expected a boolean, got {value!r}")
    elif t in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Invalid(f"{path}: expected a number, got {value!r}")
    elif t == "timestamp":
        if not isinstance(value, datetime.datetime):
            raise Invalid(f"{path}: expected a timestamp, got {value!r}")


def check_len(shape, n, path):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and n < lo:
        raise Invalid(f"{path}: length {n} is below {lo}")
    if hi is not None and n > hi:
        raise Invalid(f"{path}: length {n} is above {hi}")


def call(service, operation, **params):
    c = client(service)
    model = c.meta.service_model.operation_model(operation)
    method = c.meta.method_to_api_mapping
    name = next(k for k, v in method.items() if v == operation)
    response = getattr(c, name)(**params)
    if model.output_shape is not None:
        validate(model.output_shape, response, operation)
    return response


def expect_error(service, operation, code, status=None, **params):
    try:
        call(service, operation, **params)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            raise Invalid(f"{operation}: expected error {code}, got {got}: {e}")
        http = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if status is not None and http != status:
            raise Invalid(f"{operation}: expected HTTP {status} with {code}, got {http}")
        return e
    raise Invalid(f"{operation}: expected error {code}, but it succeeded")


def check(name, fn):
    try:
        fn()
        RESULTS["passed"] += 1
        print(f"ok    {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        RESULTS["failed"] += 1
        print(f"FAIL  {name}: {type(e).__name__}: {e}")


def expect(cond, what):
    if not cond:
        raise Invalid(what)


# ---------------------------------------------------------------- Bedrock

def bedrock_models():
    all_models = call("bedrock", "ListFoundationModels")["modelSummaries"]
    expect(len(all_models) == 8, f"8 foundation models in {REGION}, got {len(all_models)}")
    anthropic = call("bedrock", "ListFoundationModels", byProvider="Anthropic")["modelSummaries"]
    expect(len(anthropic) == 6 and all(m["providerName"] == "Anthropic" for m in anthropic), "byProvider filters")
    embed = call("bedrock", "ListFoundationModels", byOutputModality="EMBEDDING")["modelSummaries"]
    expect({m["modelId"] for m in embed} == {"cohere.embed-v4:0", "amazon.titan-embed-text-v2:0"}, "byOutputModality filters")


def bedrock_profiles():
    system = call("bedrock", "ListInferenceProfiles", typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"]
    ids = {p["inferenceProfileId"] for p in system}
    expect("eu.anthropic.claude-sonnet-4-5-20250929-v1:0" in ids and "global.cohere.embed-v4:0" in ids, f"system profiles: {ids}")
    source = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0"
    created = call(
        "bedrock", "CreateInferenceProfile",
        inferenceProfileName="conf-claude-haiku-4-5", description="conformance",
        modelSource={"copyFrom": source},
        tags=[{"key": "Model", "value": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"}],
    )
    arn = created["inferenceProfileArn"]
    expect(re.fullmatch(rf"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/[a-z0-9]{{12}}", arn), f"ARN form: {arn}")
    pid = arn.rsplit("/", 1)[1]
    got = call("bedrock", "GetInferenceProfile", inferenceProfileIdentifier=pid)
    expect(got["inferenceProfileName"] == "conf-claude-haiku-4-5" and got["type"] == "APPLICATION", "get returns what was set")
    expect(got["description"] == "conformance" and len(got["models"]) > 1, "description and the EU models")
    by_arn = call("bedrock", "GetInferenceProfile", inferenceProfileIdentifier=arn)
    expect(by_arn["inferenceProfileId"] == pid, "get by ARN")
    fm = call(
        "bedrock", "CreateInferenceProfile", inferenceProfileName="conf-titan",
        modelSource={"copyFrom": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"},
    )
    apps = call("bedrock", "ListInferenceProfiles", typeEquals="APPLICATION")["inferenceProfileSummaries"]
    expect({p["inferenceProfileName"] for p in apps} >= {"conf-claude-haiku-4-5", "conf-titan"}, "list APPLICATION")
    call("bedrock", "TagResource", resourceARN=arn, tags=[{"key": "Team", "value": "platform"}])
    tags = call("bedrock", "ListTagsForResource", resourceARN=arn)["tags"]
    expect({t["key"]: t["value"] for t in tags} == {"Model": "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "Team": "platform"}, f"tags: {tags}")
    call("bedrock", "UntagResource", resourceARN=arn, tagKeys=["Team"])
    tags = call("bedrock", "ListTagsForResource", resourceARN=arn)["tags"]
    expect([t["key"] for t in tags] == ["Model"], f"untag: {tags}")
    expect_error("bedrock", "CreateInferenceProfile", "ConflictException", 409,
                 inferenceProfileName="conf-titan", modelSource={"copyFrom": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"})
    expect_error("bedrock", "CreateInferenceProfile", "ValidationException", 400,
                 inferenceProfileName="conf-bad", modelSource={"copyFrom": "not-an-arn"})
    expect_error("bedrock", "CreateInferenceProfile", "ValidationException", 400,
                 inferenceProfileName="conf-missing", modelSource={"copyFrom": f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-2:1"})
    expect_error("bedrock", "GetInferenceProfile", "ResourceNotFoundException", 404, inferenceProfileIdentifier="abcdefabcdef")
    call("bedrock", "DeleteInferenceProfile", inferenceProfileIdentifier=pid)
    expect_error("bedrock", "GetInferenceProfile", "ResourceNotFoundException", 404, inferenceProfileIdentifier=pid)
    call("bedrock", "DeleteInferenceProfile", inferenceProfileIdentifier=fm["inferenceProfileArn"])


# ---------------------------------------------------------------- Grafana

def grafana():
    role = f"arn:aws:iam::{ACCOUNT}:role/conf-grafana"
    ws = call(
        "grafana", "CreateWorkspace",
        accountAccessType="CURRENT_ACCOUNT", authenticationProviders=["SAML"], permissionType="CUSTOMER_MANAGED",
        workspaceName="conf-grafana", workspaceRoleArn=role, workspaceDataSources=["PROMETHEUS", "CLOUDWATCH"],
        vpcConfiguration={"securityGroupIds": ["sg-12345678"], "subnetIds": ["subnet-12345678", "subnet-87654321"]},
        tags={"Environment": "conformance"},
    )["workspace"]
    wid = ws["id"]
    expect(ws["status"] == "CREATING", f"a new workspace is CREATING: {ws['status']}")
    expect(ws["name"] == "conf-grafana" and ws["workspaceRoleArn"] == role, "create returns what was set")
    for _ in range(50):
        ws = call("grafana", "DescribeWorkspace", workspaceId=wid)["workspace"]
        if ws["status"] == "ACTIVE":
            break
        time.sleep(0.1)
    expect(ws["status"] == "ACTIVE", f"CREATING becomes ACTIVE: {ws['status']}")
    expect(ws["dataSources"] == ["PROMETHEUS", "CLOUDWATCH"] and ws["vpcConfiguration"]["subnetIds"] == ["subnet-12345678", "subnet-87654321"], "describe returns what was set")
    call("grafana", "UpdateWorkspace", workspaceId=wid, workspaceDataSources=["PROMETHEUS"])
    ws = call("grafana", "DescribeWorkspace", workspaceId=wid)["workspace"]
    expect(ws["dataSources"] == ["PROMETHEUS"], "update applies")
    listed = call("grafana", "ListWorkspaces")["workspaces"]
    expect(any(w["id"] == wid for w in listed), "listed")
    arn = f"arn:aws:grafana:{REGION}:{ACCOUNT}:/workspaces/{wid}"
    call("grafana", "TagResource", resourceArn=arn, tags={"Team": "platform"})
    tags = call("grafana", "ListTagsForResource", resourceArn=arn)["tags"]
    expect(tags == {"Environment": "conformance", "Team": "platform"}, f"tags: {tags}")
    call("grafana", "UntagResource", resourceArn=arn, tagKeys=["Team"])
    expect(call("grafana", "ListTagsForResource", resourceArn=arn)["tags"] == {"Environment": "conformance"}, "untag")
    expect_error("grafana", "CreateWorkspace", "ValidationException", 400,
                 accountAccessType="BOGUS", authenticationProviders=["SAML"], permissionType="CUSTOMER_MANAGED")
    expect_error("grafana", "CreateWorkspace", "ConflictException", 409, workspaceName="conf-grafana",
                 accountAccessType="CURRENT_ACCOUNT", authenticationProviders=["SAML"], permissionType="CUSTOMER_MANAGED")
    deleted = call("grafana", "DeleteWorkspace", workspaceId=wid)["workspace"]
    expect(deleted["status"] == "DELETING", f"DELETING: {deleted['status']}")
    gone = False
    for _ in range(50):
        try:
            call("grafana", "DescribeWorkspace", workspaceId=wid)
        except ClientError as e:
            expect(e.response["Error"]["Code"] == "ResourceNotFoundException", str(e))
            gone = True
            break
        time.sleep(0.1)
    expect(gone, "DELETING ends with the workspace gone")
    expect_error("grafana", "DescribeWorkspace", "ResourceNotFoundException", 404, workspaceId="g-0000000000")


# ---------------------------------------------------------------- ElastiCache parameter groups

def elasticache_parameter_groups():
    pg = call("elasticache", "CreateCacheParameterGroup", CacheParameterGroupName="conf-redis7",
              CacheParameterGroupFamily="redis7", Description="conformance",
              Tags=[{"Key": "Environment", "Value": "conformance"}])["CacheParameterGroup"]
    expect(pg["CacheParameterGroupFamily"] == "redis7" and pg["ARN"].endswith(":parametergroup:conf-redis7"), f"create: {pg}")
    groups = call("elasticache", "DescribeCacheParameterGroups", CacheParameterGroupName="conf-redis7")["CacheParameterGroups"]
    expect(len(groups) == 1 and groups[0]["Description"] == "conformance", "describe one")
    call("elasticache", "ModifyCacheParameterGroup", CacheParameterGroupName="conf-redis7",
         ParameterNameValues=[{"ParameterName": "slowlog-log-slower-than", "ParameterValue": "5000"}])
    params = call("elasticache", "DescribeCacheParameters", CacheParameterGroupName="conf-redis7")["Parameters"]
    slow = next(p for p in params if p["ParameterName"] == "slowlog-log-slower-than")
    expect(slow["ParameterValue"] == "5000" and slow["Source"] == "user", f"modified: {slow}")
    seen, marker, pages = [], None, 0
    while True:
        extra = {"Marker": marker} if marker else {}
        page = call("elasticache", "DescribeCacheParameters", CacheParameterGroupName="conf-redis7", MaxRecords=20, **extra)
        expect(len(page["Parameters"]) <= 20, "at most MaxRecords per page")
        seen += [p["ParameterName"] for p in page["Parameters"]]
        pages += 1
        marker = page.get("Marker")
        if not marker:
            break
    expect(pages >= 4 and len(seen) == len(set(seen)) > 70, f"paged: {pages} pages, {len(seen)} parameters")
    expect({"maxmemory-policy", "activedefrag", "lazyfree-lazy-eviction"} <= set(seen), "the family's real names")
    expect_error("elasticache", "DescribeCacheParameters", "InvalidParameterValue", 400, CacheParameterGroupName="conf-redis7", MaxRecords=5)
    user = call("elasticache", "DescribeCacheParameters", CacheParameterGroupName="conf-redis7", Source="user")["Parameters"]
    expect([p["ParameterName"] for p in user] == ["slowlog-log-slower-than"], "Source=user filters")
    arn = pg["ARN"]
    call("elasticache", "AddTagsToResource", ResourceName=arn, Tags=[{"Key": "Team", "Value": "platform"}])
    tags = call("elasticache", "ListTagsForResource", ResourceName=arn)["TagList"]
    expect({t["Key"]: t["Value"] for t in tags} == {"Environment": "conformance", "Team": "platform"}, f"tags: {tags}")
    call("elasticache", "RemoveTagsFromResource", ResourceName=arn, TagKeys=["Team"])
    tags = call("elasticache", "ListTagsForResource", ResourceName=arn)["TagList"]
    expect([t["Key"] for t in tags] == ["Environment"], "untag")
    expect_error("elasticache", "CreateCacheParameterGroup", "CacheParameterGroupAlreadyExists", 400,
                 CacheParameterGroupName="conf-redis7", CacheParameterGroupFamily="redis7", Description="again")
    expect_error("elasticache", "ModifyCacheParameterGroup", "InvalidParameterValue", 400, CacheParameterGroupName="conf-redis7",
                 ParameterNameValues=[{"ParameterName": "no-such-parameter", "ParameterValue": "1"}])
    call("elasticache", "DeleteCacheParameterGroup", CacheParameterGroupName="conf-redis7")
    expect_error("elasticache", "DescribeCacheParameterGroups", "CacheParameterGroupNotFound", 404, CacheParameterGroupName="conf-redis7")
    expect_error("elasticache", "DeleteCacheParameterGroup", "CacheParameterGroupNotFound", 404, CacheParameterGroupName="conf-redis7")


# ---------------------------------------------------------------- deviations corrected

def deviation_replication_group():
    rg = call("elasticache", "CreateReplicationGroup", ReplicationGroupId="conf-rg", ReplicationGroupDescription="conformance",
              Engine="redis", EngineVersion="7.1", CacheNodeType="cache.t3.micro", NumCacheClusters=2, Port=6380)["ReplicationGroup"]
    expect(len(rg["MemberClusters"]) == 2, f"NumCacheClusters=2 gives two members: {rg['MemberClusters']}")
    primary = rg["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    expect(".euc2.cache.amazonaws.com" in primary and "use1" not in primary, f"endpoint names the region: {primary}")
    azs = {m["PreferredAvailabilityZone"] for m in rg["NodeGroups"][0]["NodeGroupMembers"]}
    expect(all(az.startswith(REGION) for az in azs), f"zones of the region: {azs}")


def deviation_rds_delete():
    call("rds", "CreateDBCluster", DBClusterIdentifier="conf-aurora", Engine="aurora-postgresql", EngineVersion="14.19",
         MasterUsername="dbadmin", ManageMasterUserPassword=True)
    expect_error("rds", "DeleteDBCluster", "InvalidParameterCombination", 400, DBClusterIdentifier="conf-aurora")
    call("rds", "DeleteDBCluster", DBClusterIdentifier="conf-aurora", SkipFinalSnapshot=True)


def deviation_secret_scheduled_for_deletion():
    call("secretsmanager", "CreateSecret", Name="conf/secret")
    call("secretsmanager", "DeleteSecret", SecretId="conf/secret", RecoveryWindowInDays=7)
    expect_error("secretsmanager", "CreateSecret", "InvalidRequestException", 400, Name="conf/secret")
    call("secretsmanager", "CreateSecret", Name="conf/live")
    expect_error("secretsmanager", "CreateSecret", "ResourceExistsException", 400, Name="conf/live")


def deviation_bucket_versioning():
    s3 = "s3"
    call(s3, "CreateBucket", Bucket="conf-versioning", CreateBucketConfiguration={"LocationConstraint": REGION})
    call(s3, "PutBucketVersioning", Bucket="conf-versioning", VersioningConfiguration={"Status": "Enabled"})
    expect(call(s3, "GetBucketVersioning", Bucket="conf-versioning").get("Status") == "Enabled", "versioning reads back")


def rule_bucket_policy_enforced():
    import json
    import urllib.request
    s3 = "s3"
    b = "conf-policy"
    call(s3, "CreateBucket", Bucket=b, CreateBucketConfiguration={"LocationConstraint": REGION})
    call(s3, "PutObject", Bucket=b, Key="k", Body=b"v")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": ["s3:ListBucket", "s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-conf"}}}]}
    call(s3, "PutBucketPolicy", Bucket=b, Policy=json.dumps(policy))
    expect(json.loads(call(s3, "GetBucketPolicy", Bucket=b)["Policy"]) == policy, "policy reads back")
    expect_error(s3, "ListObjectsV2", "AccessDenied", 403, Bucket=b)
    expect_error(s3, "GetObject", "AccessDenied", 403, Bucket=b, Key="k")
    expect_error(s3, "HeadBucket", "403", 403, Bucket=b)
    call(s3, "ListObjectVersions", Bucket=b)
    ctx = urllib.request.Request(f"{ENDPOINT}/_gateway/s3-context", method="POST",
                                 data=json.dumps({"source_vpce": "vpce-conf"}).encode())
    urllib.request.urlopen(ctx).read()
    try:
        call(s3, "HeadBucket", Bucket=b)
        expect(call(s3, "GetObject", Bucket=b, Key="k")["Body"].read() == b"v", "object readable inside the VPC")
    finally:
        reset = urllib.request.Request(f"{ENDPOINT}/_gateway/s3-context", method="POST", data=b"{}")
        urllib.request.urlopen(reset).read()
    call(s3, "DeleteBucketPolicy", Bucket=b)
    expect_error(s3, "GetBucketPolicy", "NoSuchBucketPolicy", 404, Bucket=b)
    call(s3, "GetObject", Bucket=b, Key="k")


def deviation_deleted_log_group_forgets_tags():
    call("logs", "CreateLogGroup", logGroupName="/conf/tags", tags={"ManagedBy": "x"})
    call("logs", "DeleteLogGroup", logGroupName="/conf/tags")
    call("logs", "CreateLogGroup", logGroupName="/conf/tags")
    tags = call("logs", "ListTagsLogGroup", logGroupName="/conf/tags")["tags"]
    expect(tags == {}, f"a new group of the same name has no tags: {tags}")


def deviation_deleted_cluster_drops_automated_snapshots():
    args = dict(DBClusterIdentifier="conf-again", Engine="aurora-postgresql", MasterUsername="dbadmin",
                ManageMasterUserPassword=True)
    call("rds", "CreateDBCluster", **args)
    call("rds", "DeleteDBCluster", DBClusterIdentifier="conf-again", SkipFinalSnapshot=True)
    call("rds", "CreateDBCluster", **args)


def rule_bedrock_logging_validates_its_role():
    import json
    call("logs", "CreateLogGroup", logGroupName="/conf/bedrock")
    cw = {"logGroupName": "/conf/bedrock"}
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    # IAM through the plain client: botocore decodes the policy documents in IAM's answers.
    iam = client("iam")
    role = iam.create_role(RoleName="conf-bedrock", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    config = {"cloudWatchConfig": dict(cw, roleArn=role), "textDataDeliveryEnabled": True}
    expect_error("bedrock", "PutModelInvocationLoggingConfiguration", "ValidationException", 400, loggingConfig=config)
    trust["Statement"][0]["Principal"]["Service"] = "bedrock.amazonaws.com"
    iam.update_assume_role_policy(RoleName="conf-bedrock", PolicyDocument=json.dumps(trust))
    expect_error("bedrock", "PutModelInvocationLoggingConfiguration", "ValidationException", 400, loggingConfig=config)
    iam.put_role_policy(RoleName="conf-bedrock", PolicyName="logs", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                                 "Resource": "*"}]}))
    call("bedrock", "PutModelInvocationLoggingConfiguration", loggingConfig=config)
    got = call("bedrock", "GetModelInvocationLoggingConfiguration")["loggingConfig"]
    expect(got["cloudWatchConfig"]["roleArn"] == role, f"stored: {got}")


def rule_tags_validated():
    bad = [{"Key": "aws:owner", "Value": "x"}]
    expect_error("rds", "CreateDBClusterParameterGroup", "InvalidParameterValue", 400, DBClusterParameterGroupName="conf-tags",
                 DBParameterGroupFamily="aurora-postgresql14", Description="d", Tags=bad)
    expect_error("secretsmanager", "CreateSecret", "ValidationException", 400, Name="conf/tags",
                 Tags=[{"Key": "Team", "Value": "a{b}"}])
    expect_error("iam", "CreateUser", "InvalidInput", 400, UserName="conf-tags", Tags=bad)
    call("s3", "CreateBucket", Bucket="conf-tags", CreateBucketConfiguration={"LocationConstraint": REGION})
    expect_error("s3", "PutBucketTagging", "InvalidTag", 400, Bucket="conf-tags", Tagging={"TagSet": bad})
    call("s3", "PutBucketTagging", Bucket="conf-tags", Tagging={"TagSet": [{"Key": "Team", "Value": "data"}]})


def rule_replication_group_modes():
    base = dict(ReplicationGroupDescription="conformance", Engine="redis", EngineVersion="7.1",
                CacheNodeType="cache.t3.micro", Port=6380)
    expect_error("elasticache", "CreateReplicationGroup", "InvalidParameterCombination", 400, ReplicationGroupId="conf-maz",
                 NumCacheClusters=2, MultiAZEnabled=True, AutomaticFailoverEnabled=False, **base)
    expect_error("elasticache", "CreateReplicationGroup", "InvalidParameterCombination", 400, ReplicationGroupId="conf-maz",
                 NumCacheClusters=1, AutomaticFailoverEnabled=True, **base)
    expect_error("elasticache", "CreateReplicationGroup", "InvalidParameterValue", 400, ReplicationGroupId="conf-maz",
                 NumCacheClusters=7, **base)
    call("elasticache", "CreateReplicationGroup", ReplicationGroupId="conf-maz", NumCacheClusters=2,
         AutomaticFailoverEnabled=True, MultiAZEnabled=True, **base)
    expect_error("elasticache", "DecreaseReplicaCount", "InvalidParameterCombination", 400, ReplicationGroupId="conf-maz",
                 NewReplicaCount=0, ApplyImmediately=True)
    expect_error("elasticache", "ModifyReplicationGroup", "InvalidParameterCombination", 400, ReplicationGroupId="conf-maz",
                 AutomaticFailoverEnabled=False, ApplyImmediately=True)


def rule_kms_keys_as_arns():
    key = call("kms", "CreateKey", Description="conformance")["KeyMetadata"]
    call("kms", "CreateAlias", AliasName="alias/conf-db", TargetKeyId=key["KeyId"])
    c = call("rds", "CreateDBCluster", DBClusterIdentifier="conf-kms", Engine="aurora-postgresql", EngineVersion="14.19",
             MasterUsername="dbadmin", ManageMasterUserPassword=True, StorageEncrypted=True, KmsKeyId="alias/conf-db",
             MasterUserSecretKmsKeyId=key["KeyId"])["DBCluster"]
    expect(c["KmsKeyId"] == key["Arn"], f"cluster key reported as the ARN: {c['KmsKeyId']}")
    expect(c["MasterUserSecret"]["KmsKeyId"] == key["Arn"], f"secret key as the ARN: {c['MasterUserSecret']}")
    expect_error("rds", "CreateDBCluster", "KMSKeyNotAccessibleFault", 400, DBClusterIdentifier="conf-kms-2",
                 Engine="aurora-postgresql", MasterUsername="dbadmin", KmsKeyId="alias/none")
    call("rds", "CreateDBInstance", DBInstanceIdentifier="conf-kms-1", DBClusterIdentifier="conf-kms", Engine="aurora-postgresql",
         DBInstanceClass="db.t4g.medium", EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId="alias/conf-db")
    i = call("rds", "DescribeDBInstances", DBInstanceIdentifier="conf-kms-1")["DBInstances"][0]
    expect(i["PerformanceInsightsKMSKeyId"] == key["Arn"], f"PI key as the ARN: {i.get('PerformanceInsightsKMSKeyId')}")
    other = call("kms", "CreateKey", Description="other")["KeyMetadata"]
    expect_error("rds", "ModifyDBInstance", "InvalidParameterCombination", 400, DBInstanceIdentifier="conf-kms-1",
                 EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=other["Arn"])
    call("rds", "ModifyDBInstance", DBInstanceIdentifier="conf-kms-1", EnablePerformanceInsights=True,
         PerformanceInsightsKMSKeyId=key["KeyId"])


# ---------------------------------------------------------------- changes moto ignores (overlays)

def overlay_log_exports():
    call("rds", "CreateDBCluster", DBClusterIdentifier="conf-logs", Engine="aurora-postgresql", EngineVersion="14.19",
         MasterUsername="dbadmin", ManageMasterUserPassword=True, EnableCloudwatchLogsExports=["postgresql"])
    call("rds", "ModifyDBCluster", DBClusterIdentifier="conf-logs", ApplyImmediately=True,
         CloudwatchLogsExportConfiguration={"DisableLogTypes": ["postgresql"]})
    c = call("rds", "DescribeDBClusters", DBClusterIdentifier="conf-logs")["DBClusters"][0]
    expect(c.get("EnabledCloudwatchLogsExports", []) == [], f"exports off: {c.get('EnabledCloudwatchLogsExports')}")
    call("rds", "ModifyDBCluster", DBClusterIdentifier="conf-logs", ApplyImmediately=True,
         CloudwatchLogsExportConfiguration={"EnableLogTypes": ["postgresql"]})
    c = call("rds", "DescribeDBClusters", DBClusterIdentifier="conf-logs")["DBClusters"][0]
    expect(c.get("EnabledCloudwatchLogsExports") == ["postgresql"], f"exports on: {c.get('EnabledCloudwatchLogsExports')}")


def vpc_with_subnets(cidr):
    vpc = call("ec2", "CreateVpc", CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.split(".")
    subnets = [call("ec2", "CreateSubnet", VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.{i}.0/24",
                    AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"] for i, z in [(1, "a"), (2, "b"), (3, "c")]]
    return vpc, subnets


def overlay_private_dns():
    vpc, subnets = vpc_with_subnets("10.61.0.0/16")
    # Unvalidated: EC2 answers an endpoint's state in lower case ("available"), which the service
    # model's enum ("Available") does not list; the SDKs take either.
    ec2 = client("ec2")
    e = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.rds", VpcEndpointType="Interface",
                                SubnetIds=subnets[:1], PrivateDnsEnabled=True)["VpcEndpoint"]["VpcEndpointId"]
    call("ec2", "ModifyVpcEndpoint", VpcEndpointId=e, PrivateDnsEnabled=False)
    got = ec2.describe_vpc_endpoints(VpcEndpointIds=[e])["VpcEndpoints"][0]["PrivateDnsEnabled"]
    expect(got is False, f"private DNS off: {got}")
    call("ec2", "ModifyVpcEndpoint", VpcEndpointId=e, PrivateDnsEnabled=True)
    got = ec2.describe_vpc_endpoints(VpcEndpointIds=[e])["VpcEndpoints"][0]["PrivateDnsEnabled"]
    expect(got is True, f"private DNS on: {got}")


def overlay_slow_log():
    group = "/aws/vendedlogs/elasticache/conf-slow/slow-log"
    call("logs", "CreateLogGroup", logGroupName=group)
    slow = {"LogType": "slow-log", "DestinationType": "cloudwatch-logs", "LogFormat": "json",
            "DestinationDetails": {"CloudWatchLogsDetails": {"LogGroup": group}}}
    call("elasticache", "CreateReplicationGroup", ReplicationGroupId="conf-slow", ReplicationGroupDescription="conformance",
         Engine="redis", EngineVersion="7.1", CacheNodeType="cache.t3.micro", NumCacheClusters=1, Port=6380,
         LogDeliveryConfigurations=[slow])
    call("elasticache", "ModifyReplicationGroup", ReplicationGroupId="conf-slow", ApplyImmediately=True,
         LogDeliveryConfigurations=[{"LogType": "slow-log", "Enabled": False}])
    g = call("elasticache", "DescribeReplicationGroups", ReplicationGroupId="conf-slow")["ReplicationGroups"][0]
    kinds = [d["LogType"] for d in g.get("LogDeliveryConfigurations", [])]
    expect("slow-log" not in kinds, f"slow log off: {g.get('LogDeliveryConfigurations')}")


def overlay_kms_association():
    key = call("kms", "CreateKey", Description="conformance logs")["KeyMetadata"]["Arn"]
    call("logs", "CreateLogGroup", logGroupName="/conf/kms", kmsKeyId=key)
    call("logs", "DisassociateKmsKey", logGroupName="/conf/kms")
    g = call("logs", "DescribeLogGroups", logGroupNamePrefix="/conf/kms")["logGroups"][0]
    expect("kmsKeyId" not in g, f"key dissociated: {g}")
    call("logs", "AssociateKmsKey", logGroupName="/conf/kms", kmsKeyId=key)
    g = call("logs", "DescribeLogGroups", logGroupNamePrefix="/conf/kms")["logGroups"][0]
    expect(g.get("kmsKeyId") == key, f"key associated: {g}")


def overlay_subnet_groups():
    _, subnets = vpc_with_subnets("10.62.0.0/16")
    tags = [{"Key": "NamingId", "Value": "conf"}]
    call("rds", "CreateDBSubnetGroup", DBSubnetGroupName="conf-db-subnets", DBSubnetGroupDescription="conformance",
         SubnetIds=subnets, Tags=tags)
    call("rds", "ModifyDBSubnetGroup", DBSubnetGroupName="conf-db-subnets", SubnetIds=subnets[:2])
    g = call("rds", "DescribeDBSubnetGroups", DBSubnetGroupName="conf-db-subnets")["DBSubnetGroups"][0]
    ids = sorted(s["SubnetIdentifier"] for s in g["Subnets"])
    expect(ids == sorted(subnets[:2]), f"DB subnet group keeps its name with the new subnets: {ids}")
    expect(g["DBSubnetGroupDescription"] == "conformance", f"and its description: {g['DBSubnetGroupDescription']}")
    arn = g["DBSubnetGroupArn"]
    kept = call("rds", "ListTagsForResource", ResourceName=arn)["TagList"]
    expect(kept == tags, f"and its tags: {kept}")
    call("elasticache", "CreateCacheSubnetGroup", CacheSubnetGroupName="conf-cache-subnets",
         CacheSubnetGroupDescription="conformance", SubnetIds=subnets)
    call("elasticache", "ModifyCacheSubnetGroup", CacheSubnetGroupName="conf-cache-subnets", SubnetIds=subnets[:2])
    g = call("elasticache", "DescribeCacheSubnetGroups", CacheSubnetGroupName="conf-cache-subnets")["CacheSubnetGroups"][0]
    ids = sorted(s["SubnetIdentifier"] for s in g["Subnets"])
    expect(ids == sorted(subnets[:2]), f"cache subnet group has the new subnets: {ids}")


def freed_replication_group_name():
    base = dict(ReplicationGroupDescription="conformance", Engine="redis", EngineVersion="7.1",
                CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    call("elasticache", "CreateReplicationGroup", ReplicationGroupId="conf-again", Port=6380, **base)
    call("elasticache", "DeleteReplicationGroup", ReplicationGroupId="conf-again")
    expect_error("elasticache", "DescribeReplicationGroups", "ReplicationGroupNotFoundFault", 404,
                 ReplicationGroupId="conf-again")
    g = call("elasticache", "CreateReplicationGroup", ReplicationGroupId="conf-again", Port=6379, **base)["ReplicationGroup"]
    expect(g["ReplicationGroupId"] == "conf-again", f"the name is free again: {g['ReplicationGroupId']}")
    g = call("elasticache", "DescribeReplicationGroups", ReplicationGroupId="conf-again")["ReplicationGroups"][0]
    port = g["NodeGroups"][0]["PrimaryEndpoint"]["Port"]
    expect(port == 6379 and "-g1" not in str(g), f"the new group, under its own name: {port}")


def kms_grants_follow_resources():
    key = call("kms", "CreateKey", Description="conformance grants")["KeyMetadata"]["Arn"]
    call("rds", "CreateDBCluster", DBClusterIdentifier="conf-grant", Engine="aurora-postgresql", EngineVersion="14.19",
         MasterUsername="dbadmin", ManageMasterUserPassword=True, StorageEncrypted=True, KmsKeyId=key)
    names = [g.get("Name") for g in call("kms", "ListGrants", KeyId=key)["Grants"]]
    expect(names == ["conf-grant"], f"RDS holds a grant for the cluster: {names}")
    call("rds", "DeleteDBCluster", DBClusterIdentifier="conf-grant", SkipFinalSnapshot=True)
    names = [g.get("Name") for g in call("kms", "ListGrants", KeyId=key)["Grants"]]
    expect(names == [], f"retired with the cluster: {names}")


# ---------------------------------------------------------------- AWS's behaviour in time

def gateway(method, path, body=None):
    import json
    import urllib.request
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{ENDPOINT}/_gateway/{path}", method=method, data=data)
    return json.loads(urllib.request.urlopen(req).read() or b"{}")


def model_eventual_consistency():
    gateway("POST", "consistency", {"list_lag_ms": 1500, "read_after_create_ms": 800})
    try:
        expect(gateway("GET", "consistency")["list_lag_ms"] == 1500, "the settings read back")
        call("secretsmanager", "CreateSecret", Name="conf/lag")
        listed = lambda: [s["Name"] for s in call("secretsmanager", "ListSecrets", Filters=[{"Key": "name", "Values": ["conf/lag"]}])["SecretList"]]
        expect("conf/lag" not in listed(), "a new secret is not listed at once")
        call("secretsmanager", "DescribeSecret", SecretId="conf/lag")
        time.sleep(1.7)
        expect("conf/lag" in listed(), "listed once the lag is over")
        call("s3", "CreateBucket", Bucket="conf-lag", CreateBucketConfiguration={"LocationConstraint": REGION})
        expect_error("s3", "GetBucketTagging", "NoSuchBucket", 404, Bucket="conf-lag")
        call("iam", "CreateUser", UserName="conf-lag")
        expect_error("iam", "CreateAccessKey", "NoSuchEntity", 404, UserName="conf-lag")
        time.sleep(0.9)
        call("iam", "CreateAccessKey", UserName="conf-lag")
    finally:
        gateway("DELETE", "consistency")


def model_failed_creation():
    gateway("POST", "fail-creation", {"kind": "replication_group"})
    call("elasticache", "CreateReplicationGroup", ReplicationGroupId="conf-failed", ReplicationGroupDescription="conformance",
         Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=1, Port=6380)
    rg = call("elasticache", "DescribeReplicationGroups", ReplicationGroupId="conf-failed")["ReplicationGroups"][0]
    expect(rg["Status"] == "create-failed", f"create-failed: {rg['Status']}")
    gateway("POST", "fail-creation", {"kind": "prometheus_workspace"})
    ws = call("amp", "CreateWorkspace", alias="conf-failed")["workspaceId"]
    status = call("amp", "DescribeWorkspace", workspaceId=ws)["workspace"]["status"]["statusCode"]
    expect(status == "CREATION_FAILED", f"CREATION_FAILED: {status}")


def model_busy_states():
    gateway("POST", "slow", {"modification_ms": 2000})
    try:
        call("rds", "CreateDBCluster", DBClusterIdentifier="conf-busy", Engine="aurora-postgresql", EngineVersion="14.19",
             MasterUsername="dbadmin", ManageMasterUserPassword=True)
        call("rds", "CreateDBInstance", DBInstanceIdentifier="conf-busy-1", DBClusterIdentifier="conf-busy",
             Engine="aurora-postgresql", DBInstanceClass="db.t4g.medium")
        call("rds", "ModifyDBCluster", DBClusterIdentifier="conf-busy", BackupRetentionPeriod=9, ApplyImmediately=True)
        expect_error("rds", "ModifyDBCluster", "InvalidDBClusterStateFault", 400, DBClusterIdentifier="conf-busy",
                     BackupRetentionPeriod=8, ApplyImmediately=True)
        expect_error("rds", "ModifyDBInstance", "InvalidDBClusterStateFault", 400, DBInstanceIdentifier="conf-busy-1",
                     DBInstanceClass="db.t4g.large", ApplyImmediately=True)
    finally:
        gateway("POST", "slow", {})


def model_backing_up_and_deleting():
    gateway("POST", "slow", {"modification_ms": 3000})
    try:
        args = dict(DBClusterIdentifier="conf-leave", Engine="aurora-postgresql", EngineVersion="14.19",
                    MasterUsername="dbadmin", ManageMasterUserPassword=True)
        call("rds", "CreateDBCluster", **args)
        call("rds", "CreateDBClusterSnapshot", DBClusterIdentifier="conf-leave",
             DBClusterSnapshotIdentifier="conf-leave-manual")
        status = call("rds", "DescribeDBClusters", DBClusterIdentifier="conf-leave")["DBClusters"][0]["Status"]
        expect(status == "backing-up", f"backing-up: {status}")
        expect_error("rds", "ModifyDBCluster", "InvalidDBClusterStateFault", 400, DBClusterIdentifier="conf-leave",
                     BackupRetentionPeriod=8, ApplyImmediately=True)
        call("rds", "DeleteDBCluster", DBClusterIdentifier="conf-leave", SkipFinalSnapshot=True)
        status = call("rds", "DescribeDBClusters", DBClusterIdentifier="conf-leave")["DBClusters"][0]["Status"]
        expect(status == "deleting", f"deleting: {status}")
        expect_error("rds", "CreateDBCluster", "DBClusterAlreadyExistsFault", 400, **args)
    finally:
        gateway("POST", "slow", {})


for name, fn in [
    ("bedrock foundation models", bedrock_models),
    ("bedrock inference profiles", bedrock_profiles),
    ("grafana workspaces", grafana),
    ("elasticache parameter groups", elasticache_parameter_groups),
    ("deviation: NumCacheClusters and endpoint region", deviation_replication_group),
    ("deviation: cluster delete needs a snapshot decision", deviation_rds_delete),
    ("deviation: secret name scheduled for deletion", deviation_secret_scheduled_for_deletion),
    ("deviation: bucket versioning", deviation_bucket_versioning),
    ("rule: bucket policies enforced on every call", rule_bucket_policy_enforced),
    ("deviation: a deleted log group forgets its tags", deviation_deleted_log_group_forgets_tags),
    ("deviation: a deleted cluster's name can be used again", deviation_deleted_cluster_drops_automated_snapshots),
    ("rule: bedrock logging validates its role", rule_bedrock_logging_validates_its_role),
    ("rule: tags AWS rejects are refused", rule_tags_validated),
    ("rule: multi-AZ, failover and replica counts", rule_replication_group_modes),
    ("rule: KMS keys reported as ARNs, PI key fixed once set", rule_kms_keys_as_arns),
    ("model: lists lag, new buckets and users are not seen at once", model_eventual_consistency),
    ("model: a creation armed to fail ends in its failed state", model_failed_creation),
    ("model: a busy cluster refuses modification", model_busy_states),
    ("model: a snapshot leaves a cluster backing up, a deleted one stays deleting", model_backing_up_and_deleting),
    ("overlay: a cluster's log exports changed", overlay_log_exports),
    ("overlay: an interface endpoint's private DNS changed", overlay_private_dns),
    ("overlay: a replication group's slow log switched off", overlay_slow_log),
    ("overlay: a log group's KMS key dissociated and associated", overlay_kms_association),
    ("overlay: subnet groups modified keep name, description and tags", overlay_subnet_groups),
    ("model: a deleted replication group's name is free once it is gone", freed_replication_group_name),
    ("model: services hold KMS grants for what they encrypt, retired on deletion", kms_grants_follow_resources),
]:
    check(name, fn)

print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
sys.exit(1 if RESULTS["failed"] else 0)
