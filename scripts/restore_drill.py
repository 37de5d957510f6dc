"""Restore drill: restore one table (a tenant's, or the platform directory) into a NEW table,
verify it, and leave the live table untouched. Run through scripts/restore-drill; see the
README's "Restore drill" for the swap that makes a restored copy the live table.

  restore-drill pitr    --tenant <tenant_id> [--at <ISO-8601 UTC>]    point-in-time (PITR)
  restore-drill pitr    --platform [--at ...]
  restore-drill backup  --tenant <tenant_id> [--recovery-point <arn>]  AWS Backup (nightly)
  restore-drill cleanup --table <restored table name>                  delete a drill's copy

Environment: BULWARK_RESOURCE_PREFIX (default bulwark), BULWARK_STACK (default bulwark: the
stack whose MasterKey, BackupVault and backup role are used), AWS_REGION and credentials;
AWS_ENDPOINT_URL points every client at an emulator (the test suite's moto).
"""

import argparse
import datetime as dt
import os
import sys
import time

import boto3

PREFIX = os.environ.get("BULWARK_RESOURCE_PREFIX", "bulwark")
STACK = os.environ.get("BULWARK_STACK", "bulwark")


def log(msg):
    print(f"restore-drill: {msg}", file=sys.stderr)


def stack_output_or_resource(logical_id):
    """The physical id of one of the stack's resources (None when there is no stack)."""
    try:
        cfn = boto3.client("cloudformation")
        r = cfn.describe_stack_resource(StackName=STACK, LogicalResourceId=logical_id)
        return r["StackResourceDetail"]["PhysicalResourceId"]
    except Exception as e:  # noqa: BLE001 - no stack (emulator, other account): caller decides
        log(f"no {logical_id} in stack {STACK} ({e.__class__.__name__})")
        return None


def source_table(args):
    if args.platform:
        return f"{PREFIX}-platform"
    if not args.tenant:
        sys.exit("restore-drill: --tenant <tenant_id> or --platform")
    return f"{PREFIX}-tenant-{args.tenant}"


def count_items(ddb, table):
    """Every item, counted with paginated COUNT scans (no item leaves DynamoDB)."""
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wait_active(ddb, table, timeout=3600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = ddb.describe_table(TableName=table)["Table"]["TableStatus"]
        if status == "ACTIVE":
            return
        time.sleep(10 if "AWS_ENDPOINT_URL" not in os.environ else 0.2)
    sys.exit(f"restore-drill: {table} not active after {timeout}s")


def harden(ddb, table, key_arn):
    """What a restore does not carry over and the live tables have: PITR, deletion protection,
    TTL. (SSE with the master key is set by the restore request itself.) The drill copy is NOT
    tagged bulwark:backup, so the nightly plan does not back it up."""
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    ddb.update_table(TableName=table, DeletionProtectionEnabled=True)
    try:
        ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    except ddb.exceptions.ClientError as e:
        if "already enabled" not in str(e):
            raise
    desc = ddb.describe_table(TableName=table)["Table"]
    sse = desc.get("SSEDescription", {})
    log(f"{table}: SSE {sse.get('SSEType', 'AWS owned key')} {sse.get('KMSMasterKeyArn', '')}")
    if key_arn and sse.get("KMSMasterKeyArn") not in (key_arn, None):
        log(f"warning: {table} is encrypted with {sse.get('KMSMasterKeyArn')}, not {key_arn}")


def report(ddb, source, target):
    live, restored = count_items(ddb, source), count_items(ddb, target)
    log(f"items: live {source} = {live}, restored {target} = {restored}")
    print(f"{target}\t{restored}\t{live}")
    if restored == 0 and live > 0:
        sys.exit("restore-drill: the restored table is empty")


def drill_name(source):
    return f"{source}-drill-{dt.datetime.now(dt.timezone.utc):%Y%m%d%H%M%S}"


def pitr(args):
    ddb = boto3.client("dynamodb")
    source = source_table(args)
    target = args.target or drill_name(source)
    key_arn = stack_output_or_resource("MasterKey")
    window = ddb.describe_continuous_backups(TableName=source)["ContinuousBackupsDescription"]
    pitr_desc = window.get("PointInTimeRecoveryDescription", {})
    if pitr_desc.get("PointInTimeRecoveryStatus") != "ENABLED":
        sys.exit(f"restore-drill: PITR is not enabled on {source}")
    log(
        f"{source}: restorable {pitr_desc.get('EarliestRestorableDateTime')} .. "
        f"{pitr_desc.get('LatestRestorableDateTime')}"
    )
    request = {"SourceTableName": source, "TargetTableName": target}
    if args.at:
        request["RestoreDateTime"] = dt.datetime.fromisoformat(args.at.replace("Z", "+00:00"))
    else:
        request["UseLatestRestorableTime"] = True
    if key_arn:
        request["SSESpecificationOverride"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    log(f"restoring {source} -> {target} ({args.at or 'latest restorable time'})")
    ddb.restore_table_to_point_in_time(**request)
    wait_active(ddb, target)
    harden(ddb, target, key_arn)
    report(ddb, source, target)


def backup(args):
    ddb, bk = boto3.client("dynamodb"), boto3.client("backup")
    source = source_table(args)
    target = args.target or drill_name(source)
    source_arn = ddb.describe_table(TableName=source)["Table"]["TableArn"]
    point = args.recovery_point
    if not point:
        vault = stack_output_or_resource("BackupVault") or f"{PREFIX}-vault"
        try:
            points = bk.list_recovery_points_by_resource(ResourceArn=source_arn).get("RecoveryPoints", [])
        except Exception as e:  # noqa: BLE001 - e.g. an emulator without AWS Backup
            sys.exit(f"restore-drill: cannot list recovery points of {source}: {e}")
        points = [p for p in points if p.get("Status") == "COMPLETED" and vault in p.get("BackupVaultName", vault)]
        if not points:
            sys.exit(f"restore-drill: no completed recovery point of {source} (the plan runs nightly at 03:00 UTC)")
        point = max(points, key=lambda p: p["CreationDate"])["RecoveryPointArn"]
    role = stack_output_or_resource("BackupRole")
    if not role:
        sys.exit("restore-drill: the stack's BackupRole is needed to restore from AWS Backup")
    account = boto3.client("sts").get_caller_identity()["Account"]
    role_arn = role if role.startswith("arn:") else f"arn:aws:iam::{account}:role/{role}"
    log(f"restoring recovery point {point} -> {target}")
    job = bk.start_restore_job(
        RecoveryPointArn=point,
        IamRoleArn=role_arn,
        ResourceType="DynamoDB",
        Metadata={"targetTableName": target},
    )["RestoreJobId"]
    while True:
        state = bk.describe_restore_job(RestoreJobId=job)
        if state["Status"] in ("COMPLETED", "ABORTED", "FAILED"):
            break
        time.sleep(15)
    if state["Status"] != "COMPLETED":
        sys.exit(f"restore-drill: restore job {job} {state['Status']}: {state.get('StatusMessage', '')}")
    wait_active(ddb, target)
    harden(ddb, target, stack_output_or_resource("MasterKey"))
    report(ddb, source, target)


def cleanup(args):
    ddb = boto3.client("dynamodb")
    if "-drill-" not in args.table:
        sys.exit("restore-drill: cleanup only deletes drill copies (<table>-drill-<time>)")
    ddb.update_table(TableName=args.table, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=args.table)
    log(f"deleted {args.table}")


def main():
    p = argparse.ArgumentParser(prog="restore-drill", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("pitr", "backup"):
        s = sub.add_parser(name)
        s.add_argument("--tenant")
        s.add_argument("--platform", action="store_true")
        s.add_argument("--target", help="name of the new table (default <source>-drill-<time>)")
        if name == "pitr":
            s.add_argument("--at", help="ISO-8601 UTC time to restore to (default: latest)")
        else:
            s.add_argument("--recovery-point", help="recovery point ARN (default: newest completed)")
    c = sub.add_parser("cleanup")
    c.add_argument("--table", required=True)
    args = p.parse_args()
    {"pitr": pitr, "backup": backup, "cleanup": cleanup}[args.cmd](args)


if __name__ == "__main__":
    main()
