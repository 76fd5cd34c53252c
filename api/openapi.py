#!/usr/bin/env python3
"""The source of tether's OpenAPI 3.1 document (api/openapi.json).

Every route of tetherd's API listener is described here once: rport's
dialect and tether's additions under /api/v1, the streaming routes, the
Elastic dialect (/api/endpoint, /api/security/api_key), the TAT dialect
(POST / with X-TC-Action), the health probes and /metrics.

    python3 api/openapi.py > api/openapi.json      (after a change here)
    python3 api/openapi.py --check                  (fails when they differ)

CMake embeds api/openapi.json in tetherd (api/embed.cmake);
tests/e2e/test_28_openapi.py checks the document against the real server.

Conventions: "x-untested" on a response says why the e2e test cannot make
the server answer it (a store failure, out of memory); every other response
is exercised by the test. "x-tat-actions" maps each TAT action (the
X-TC-Action header) to its request and response schemas.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REF = "#/components/schemas/"


def ref(name):
    return {"$ref": REF + name}


def obj(props=None, required=(), extra=True, **kw):
    s = {"type": "object", "properties": props or {}}
    if required:
        s["required"] = list(required)
    if not extra:
        s["additionalProperties"] = False
    s.update(kw)
    return s


def arr(items, **kw):
    s = {"type": "array", "items": items}
    s.update(kw)
    return s


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
STRS = arr(STR)
STRS_N = {"type": ["array", "null"], "items": STR}
UNIX = {"type": "integer", "description": "Unix seconds"}
TIME = {"type": "string", "description": "RFC 3339, UTC"}
TIME_OR_NULL = {"type": ["string", "null"], "description": "RFC 3339, UTC, or null"}
STR_OR_NULL = {"type": ["string", "null"]}
LABELS = {"type": "object", "additionalProperties": STR}


def data(schema):
    return obj({"data": schema}, ["data"])


def listing(item):
    return obj({"data": arr(item), "meta": obj({"count": INT}, ["count"])}, ["data"])


# ---------------------------------------------------------------- schemas

SCHEMAS = {
    # rport's error envelope
    "RportError": obj({"errors": arr(obj({"code": STR, "title": STR, "detail": STR},
                                         ["code", "title", "detail"]), minItems=1)},
                      ["errors"], description="rport's error envelope"),
    "Client": obj({
        "id": STR, "name": STR, "os": STR, "os_full_name": STR, "os_version": STR,
        "os_arch": STR, "os_family": STR, "os_kernel": STR, "hostname": STR,
        "num_cpus": INT, "mem_total": INT, "timezone": STR, "ipv4": STRS, "ipv6": STRS,
        "tags": STRS, "labels": LABELS, "version": STR, "address": STR,
        "connection_state": {"enum": ["connected", "disconnected"]},
        "connected_at": TIME_OR_NULL, "disconnected_at": TIME_OR_NULL,
        "last_heartbeat_at": TIME_OR_NULL, "client_auth_id": STR, "groups": STRS,
        "allowed_user_groups": STRS, "interpreters": STRS,
        "services": {"type": ["array", "object", "null"]}},
        description="A client (agent). fields[clients] keeps only some fields."),
    "JobResult": obj({"stdout": STR, "stderr": STR,
                      "stdout_encoding": {"enum": ["base64"]},
                      "stderr_encoding": {"enum": ["base64"]},
                      "summary": STR}),
    "Job": obj({
        "jid": STR, "status": {"enum": ["queued", "running", "successful", "failed",
                                        "unknown", "expired"]},
        "finished_at": TIME_OR_NULL, "client_id": STR, "client_name": STR, "command": STR,
        "argv": STRS, "cwd": STR, "is_sudo": BOOL, "is_script": BOOL, "interpreter": STR,
        "pid": {"type": ["integer", "null"]}, "started_at": TIME_OR_NULL,
        "created_by": STR, "timeout_sec": INT, "kill_on_timeout": BOOL,
        "multi_job_id": STR_OR_NULL, "schedule_id": STR_OR_NULL, "error": STR,
        "exit_code": {"type": ["integer", "null"]},
        "result": {"anyOf": [ref("JobResult"), {"type": "null"}]},
        "expires_at": TIME_OR_NULL},
        description="One job on one client. fields[jobs] keeps only some fields."),
    "JobStarted": obj({"jid": STR, "status": STR}, ["jid"]),
    "MultiJob": obj({
        "jid": STR, "client_ids": STRS_N, "group_ids": STRS_N, "tags": {}, "labels": {},
        "command": STR, "argv": STRS, "cwd": STR, "interpreter": STR, "is_sudo": BOOL,
        "is_script": BOOL, "timeout_sec": INT, "execute_concurrently": BOOL,
        "abort_on_error": BOOL, "started_at": TIME_OR_NULL, "finished_at": TIME_OR_NULL,
        "created_by": STR, "schedule_id": STR_OR_NULL, "jobs": arr(ref("Job")),
        "summary": {"type": "object"}, "pending": STRS, "not_run": STRS},
        ["jid"], description="A multi-client job (invocation)."),
    "Cancelling": obj({"jid": STR, "status": STR}, ["jid", "status"]),
    "LoginToken": obj({"token": STR, "two_fa": {"type": "null"}, "expires_at": TIME,
                       "token_lifetime": INT}, ["token"]),
    "Me": obj({"username": STR, "groups": STRS,
               "effective_user_permissions": {"type": "object",
                                              "additionalProperties": BOOL},
               "two_fa_send_to": STR, "group_permissions_enabled": BOOL, "scope": STR},
              ["username", "groups"]),
    "ApiToken": obj({"prefix": STR, "name": STR, "scope": STR, "created_at": TIME,
                     "expires_at": TIME, "token": STR}, ["prefix", "name", "scope"]),
    "TatKey": obj({"secret_id": STR, "secret_key": STR, "created_at": TIME},
                  ["secret_id"]),
    "Status": obj({"version": STR, "clients_connected": INT, "clients_disconnected": INT,
                   "clients_auth_source": STR, "clients_auth_mode": STR,
                   "fingerprint": STR, "connect_url": STRS, "users_auth_source": STR,
                   "two_fa_enabled": BOOL, "tunnel_proxy_enabled": BOOL,
                   "used_ports": arr({}), "excluded_ports": arr({}),
                   "password_min_length": INT, "clients": INT,
                   "store": obj({"commits": INT, "writes": INT})},
                  ["version", "clients_connected"]),
    "AuditEntry": obj({"timestamp": TIME, "username": STR, "remote_ip": STR,
                       "application": STR, "action": STR, "affected_id": STR,
                       "client_id": STR, "client_hostname": STR, "request": STR,
                       "response": STR, "success": BOOL}, ["timestamp", "action"]),
    "ClientAuth": obj({"id": STR, "source": {"enum": ["config", "api", "enrollment"]},
                       "shared": BOOL}, ["id"]),
    "ClientTag": obj({"tag": STR, "client_ids": STRS}, ["tag", "client_ids"]),
    "EnrollmentCode": obj({"id": STR, "code": STR, "created_by": STR, "created_at": UNIX,
                           "expires_at": UNIX, "max_uses": INT, "uses": INT,
                           "revoked": BOOL, "id_pattern": STR_OR_NULL, "tags": STRS,
                           "labels": LABELS, "enrolled": arr({}), "fingerprint": STR},
                          ["id", "expires_at"]),
    "ClientGroup": obj({"id": STR, "description": STR, "params": {"type": "object"},
                        "allowed_user_groups": STRS, "client_ids": STRS}, ["id"]),
    "User": obj({"username": STR, "groups": STRS, "locked": BOOL,
                 "source": {"enum": ["config", "api"]}}, ["username"]),
    "UserGroup": obj({"name": STR, "permissions": {"type": "object",
                                                   "additionalProperties": BOOL}},
                     ["name", "permissions"]),
    "Ban": obj({"kind": {"enum": ["user", "address"]}, "key": STR, "failures": INT,
                "banned_until": TIME, "listener": {"enum": ["api", "agents"]}},
               ["kind", "key"]),
    "LibraryCommand": obj({"id": STR, "name": STR, "cmd": STR, "tags": STRS_N,
                           "timeout_sec": INT, "created_at": TIME, "created_by": STR,
                           "updated_at": TIME, "updated_by": STR}),
    "LibraryScript": obj({"id": STR, "name": STR, "script": STR, "interpreter": STR,
                          "cwd": STR, "is_sudo": BOOL, "tags": STRS_N, "timeout_sec": INT,
                          "created_at": TIME, "created_by": STR, "updated_at": TIME,
                          "updated_by": STR}),
    "Schedule": obj({"id": STR, "name": STR, "schedule": STR,
                     "type": {"enum": ["command", "script"]}, "command": STR,
                     "script": STR, "client_ids": STRS_N, "group_ids": STRS_N, "tags": {},
                     "interpreter": STR, "cwd": STR, "is_sudo": BOOL, "timeout_sec": INT,
                     "execute_concurrently": BOOL, "abort_on_error": BOOL,
                     "overlaps": BOOL, "library_id": STR_OR_NULL, "created_at": TIME,
                     "created_by": STR,
                     "last_execution": {"type": ["object", "null"]}}),
    # request bodies (rport refuses unknown fields)
    "CommandRequest": obj({
        "command": STR, "script": STR, "argv": STRS, "interpreter": STR, "cwd": STR,
        "is_sudo": BOOL, "timeout_sec": INT, "kill_on_timeout": BOOL,
        "delivery_timeout_sec": INT, "idempotency_key": STR, "queue_offline": BOOL,
        "expires_in_sec": INT}, extra=False),
    "MultiCommandRequest": obj({
        "command": STR, "script": STR, "argv": STRS, "interpreter": STR, "cwd": STR,
        "is_sudo": BOOL, "timeout_sec": INT, "kill_on_timeout": BOOL,
        "delivery_timeout_sec": INT, "idempotency_key": STR, "queue_offline": BOOL,
        "expires_in_sec": INT, "client_ids": STRS, "group_ids": STRS, "tags": {},
        "labels": {}, "execute_concurrently": BOOL, "abort_on_error": BOOL,
        "max_concurrency": INT, "max_errors": INT}, extra=False),
    "LibraryRunRequest": obj({
        "client_ids": STRS, "group_ids": STRS, "tags": {}, "labels": {},
        "execute_concurrently": BOOL, "abort_on_error": BOOL, "max_concurrency": INT,
        "max_errors": INT, "kill_on_timeout": BOOL, "delivery_timeout_sec": INT},
        extra=False),
    # the Elastic dialect
    "ElasticError": obj({"statusCode": INT, "error": STR, "message": STR},
                        ["statusCode", "error", "message"],
                        description="Kibana's error envelope"),
    "ElasticAction": obj({"id": STR, "agents": STRS, "command": STR,
                          "isCompleted": BOOL, "isExpired": BOOL, "wasSuccessful": BOOL,
                          "status": {"enum": ["pending", "successful", "failed",
                                              "canceled"]},
                          "startedAt": TIME, "createdBy": STR, "parameters": {},
                          "outputs": {"type": "object"}, "agentState": {"type": "object"},
                          "comment": STR},
                         ["id", "agents", "command", "isCompleted", "status"]),
    "ElasticExecuteRequest": obj({
        "endpoint_ids": STRS, "agent_type": STR, "alert_ids": STRS, "case_ids": STRS,
        "comment": STR, "parameters": obj({"command": STR, "timeout": INT}, ["command"])},
        ["endpoint_ids", "parameters"]),
    "ElasticApiKey": obj({"id": STR, "name": STR, "api_key": STR, "encoded": STR},
                         ["id", "name", "api_key", "encoded"]),
    # health probes
    "Probe": obj({"status": STR, "failing": STR}, ["status"]),
}

# The TAT dialect: Tencent Cloud's envelope. Every answer is HTTP 200; an
# error is Response.Error.
TAT_ERROR = obj({"Error": obj({"Code": STR, "Message": STR}, ["Code", "Message"]),
                 "RequestId": STR}, ["Error", "RequestId"])
SCHEMAS["TatError"] = obj({"Response": TAT_ERROR}, ["Response"],
                          description="A TAT error: Response.Error.Code names it")
TAT_TAG = obj({"Key": STR, "Value": STR})
TAT_FILTER = obj({"Name": STR, "Values": STRS})
TAT_COMMAND = obj({"CommandId": STR, "CommandName": STR, "Content": STR,
                   "CommandType": STR, "WorkingDirectory": STR, "Timeout": INT,
                   "CreatedTime": STR, "UpdatedTime": STR}, ["CommandId"])
TAT_INVOCATION = obj({"InvocationId": STR, "CommandId": STR, "InvocationStatus": STR,
                      "InvocationTaskBasicInfoSet": arr({"type": "object"}),
                      "CreatedTime": STR}, ["InvocationId"])
TAT_TASK = obj({"InvocationId": STR, "InvocationTaskId": STR, "InstanceId": STR,
                "TaskStatus": STR, "TaskResult": {"type": ["object", "null"]}},
               ["InvocationTaskId", "InstanceId", "TaskStatus"])
TAT_AGENT = obj({"InstanceId": STR, "AgentStatus": STR, "Version": STR,
                 "Environment": STR}, ["InstanceId", "AgentStatus"])

TAT_SCHEDULE = obj({"Policy": {"enum": ["ONCE", "RECURRENCE"]}, "Recurrence": STR,
                    "InvokeTime": STR}, ["Policy"], extra=False)
TAT_INVOKER = obj({"InvokerId": STR, "Name": STR, "Type": STR, "CommandId": STR,
                   "Username": STR, "Parameters": STR, "InstanceIds": STRS, "Enable": BOOL,
                   "ScheduleSettings": TAT_SCHEDULE, "CreatedTime": STR, "UpdatedTime": STR,
                   "Tags": arr(TAT_TAG)},
                  ["InvokerId", "Type", "CommandId", "InstanceIds", "Enable",
                   "ScheduleSettings"])
TAT_INVOKER_RECORD = obj({"InvokerId": STR, "InvokeTime": STR, "Reason": STR,
                          "InvocationId": STR,
                          "Result": {"enum": ["RUNNING", "SUCCESS", "PARTIAL_FAILED",
                                              "FAILED"]}},
                         ["InvokeTime", "Result"])

# action: (request properties, required, the Response's own fields, permission)
TAT_ACTIONS = {
    "RunCommand": (
        {"Content": STR, "InstanceIds": STRS, "CommandName": STR, "Description": STR,
         "CommandType": STR, "WorkingDirectory": STR, "Timeout": INT,
         "SaveCommand": BOOL, "EnableParameter": BOOL, "DefaultParameters": STR,
         "Parameters": STR, "Tags": arr(TAT_TAG), "Username": STR,
         "OutputCOSBucketUrl": STR, "OutputCOSKeyPrefix": STR},
        ["Content", "InstanceIds"],
        obj({"CommandId": STR, "InvocationId": STR, "RequestId": STR},
            ["CommandId", "InvocationId", "RequestId"]), "commands"),
    "CreateCommand": (
        {"CommandName": STR, "Content": STR, "Description": STR, "CommandType": STR,
         "WorkingDirectory": STR, "Timeout": INT, "EnableParameter": BOOL,
         "DefaultParameters": STR, "Tags": arr(TAT_TAG), "Username": STR,
         "OutputCOSBucketUrl": STR, "OutputCOSKeyPrefix": STR},
        ["CommandName", "Content"],
        obj({"CommandId": STR, "RequestId": STR}, ["CommandId", "RequestId"]), "commands"),
    "DescribeCommands": (
        {"CommandIds": STRS, "Filters": arr(TAT_FILTER), "Limit": INT, "Offset": INT}, [],
        obj({"TotalCount": INT, "CommandSet": arr(TAT_COMMAND), "RequestId": STR},
            ["TotalCount", "CommandSet", "RequestId"]), None),
    "ModifyCommand": (
        {"CommandId": STR, "CommandName": STR, "Content": STR, "Description": STR,
         "CommandType": STR, "WorkingDirectory": STR, "Timeout": INT,
         "DefaultParameters": STR, "Username": STR, "OutputCOSBucketUrl": STR,
         "OutputCOSKeyPrefix": STR},
        ["CommandId"], obj({"RequestId": STR}, ["RequestId"]), "commands"),
    "DeleteCommand": ({"CommandId": STR}, ["CommandId"],
                      obj({"RequestId": STR}, ["RequestId"]), "commands"),
    "InvokeCommand": (
        {"CommandId": STR, "InstanceIds": STRS, "Parameters": STR, "Username": STR,
         "WorkingDirectory": STR, "Timeout": INT, "OutputCOSBucketUrl": STR,
         "OutputCOSKeyPrefix": STR},
        ["CommandId", "InstanceIds"],
        obj({"InvocationId": STR, "RequestId": STR}, ["InvocationId", "RequestId"]),
        "commands"),
    "PreviewReplacedCommandContent": (
        {"Parameters": STR, "CommandId": STR, "Content": STR}, [],
        obj({"ReplacedContent": STR, "RequestId": STR}, ["ReplacedContent", "RequestId"]),
        None),
    "CancelInvocation": ({"InvocationId": STR, "InstanceIds": STRS}, ["InvocationId"],
                         obj({"RequestId": STR}, ["RequestId"]), "commands"),
    "DescribeInvocations": (
        {"InvocationIds": STRS, "Filters": arr(TAT_FILTER), "Limit": INT, "Offset": INT}, [],
        obj({"TotalCount": INT, "InvocationSet": arr(TAT_INVOCATION), "RequestId": STR},
            ["TotalCount", "InvocationSet", "RequestId"]), None),
    "DescribeInvocationTasks": (
        {"InvocationTaskIds": STRS, "Filters": arr(TAT_FILTER), "Limit": INT,
         "Offset": INT, "HideOutput": BOOL}, [],
        obj({"TotalCount": INT, "InvocationTaskSet": arr(TAT_TASK), "RequestId": STR},
            ["TotalCount", "InvocationTaskSet", "RequestId"]), None),
    "DescribeAutomationAgentStatus": (
        {"InstanceIds": STRS, "Filters": arr(TAT_FILTER), "Limit": INT, "Offset": INT}, [],
        obj({"TotalCount": INT, "AutomationAgentSet": arr(TAT_AGENT), "RequestId": STR},
            ["TotalCount", "AutomationAgentSet", "RequestId"]), None),
    # ---- TAT invoker actions (scheduled runs on the core's schedules) -------
    "CreateInvoker": (
        {"Name": STR, "Type": STR, "CommandId": STR, "InstanceIds": STRS, "Username": STR,
         "Parameters": STR, "ScheduleSettings": TAT_SCHEDULE, "Tags": arr(TAT_TAG)},
        ["Name", "Type", "CommandId", "InstanceIds", "ScheduleSettings"],
        obj({"InvokerId": STR, "RequestId": STR}, ["InvokerId", "RequestId"]), "scheduler"),
    "DescribeInvokers": (
        {"InvokerIds": STRS, "Filters": arr(TAT_FILTER), "Limit": INT, "Offset": INT}, [],
        obj({"TotalCount": INT, "InvokerSet": arr(TAT_INVOKER), "RequestId": STR},
            ["TotalCount", "InvokerSet", "RequestId"]), None),
    "EnableInvoker": ({"InvokerId": STR}, ["InvokerId"],
                      obj({"RequestId": STR}, ["RequestId"]), "scheduler"),
    "DisableInvoker": ({"InvokerId": STR}, ["InvokerId"],
                       obj({"RequestId": STR}, ["RequestId"]), "scheduler"),
    "ModifyInvoker": (
        {"InvokerId": STR, "Name": STR, "Type": STR, "CommandId": STR, "Username": STR,
         "Parameters": STR, "InstanceIds": STRS, "ScheduleSettings": TAT_SCHEDULE},
        ["InvokerId"], obj({"RequestId": STR}, ["RequestId"]), "scheduler"),
    "DeleteInvoker": ({"InvokerId": STR}, ["InvokerId"],
                      obj({"RequestId": STR}, ["RequestId"]), "scheduler"),
    "DescribeInvokerRecords": (
        {"InvokerIds": STRS, "Limit": INT, "Offset": INT}, [],
        obj({"TotalCount": INT, "InvokerRecordSet": arr(TAT_INVOKER_RECORD), "RequestId": STR},
            ["TotalCount", "InvokerRecordSet", "RequestId"]), None),
}
# Actions the server knows by name and answers UnsupportedOperation.
TAT_LATER = ["DescribeRegions", "DescribeScenes"]

for _name, (_props, _req, _resp, _perm) in TAT_ACTIONS.items():
    SCHEMAS["Tat%sRequest" % _name] = obj(_props, _req, extra=False,
                                          title=_name + " request")
    SCHEMAS["Tat%sResponse" % _name] = obj({"Response": _resp}, ["Response"],
                                           title=_name + " response")

# ---------------------------------------------------------------- responses

RPORT_ERRORS = {
    400: "Bad request: a body, a query parameter or a path segment is not valid "
         "(title and detail say which).",
    401: "No credentials, or wrong ones.",
    403: "Forbidden: an administrators' route, a missing user group permission, or a "
         "read-scoped token on a route that writes.",
    404: "Not found.",
    405: "Another method is served on this path.",
    409: "Conflict.",
    413: "The body is over [api] max_request_bytes.",
    422: "The idempotency key was used for a different request.",
    423: "The user name or the address is banned (too many failed logins).",
    429: "Too many requests: wait [api] user_login_wait after a failed login.",
    500: "Internal error.",
    503: "Service unavailable.",
}


def rport_err(status, desc=None):
    return {"description": desc or RPORT_ERRORS[status],
            "content": {"application/json": {"schema": ref("RportError")}}}


def json_resp(desc, schema):
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def ok(schema, desc="Success.", status=200):
    return {status: json_resp(desc, schema)}


NO_CONTENT = {204: {"description": "Done; no body."}}


def untested(resp, why):
    r = dict(resp)
    r["x-untested"] = why
    return r


# ---------------------------------------------------------------- rport routes

PATHS = {}
SEC_RPORT = [{"basic": []}, {"bearer": []}]


def pparams(path):
    names = []
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            names.append(seg[1:-1])
    return [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]


def op(method, path, op_id, summary, responses, tag, body=None, query=(), security=None,
       extra=None, desc=None):
    o = {"operationId": op_id, "summary": summary, "tags": [tag]}
    if desc:
        o["description"] = desc
    params = pparams(path) + [
        {"name": q, "in": "query", "required": False, "schema": STR} for q in query]
    if params:
        o["parameters"] = params
    if body is not None:
        o["requestBody"] = {"required": False,
                            "content": {"application/json": {"schema": body}}}
    if security is not None:
        o["security"] = security
    o["responses"] = {str(k): v for k, v in sorted(responses.items())}
    if extra:
        o.update(extra)
    PATHS.setdefault(path, {})[method.lower()] = o


def rport(method, path, op_id, summary, success, errors=(), body=None, query=(),
          perm=None, desc=None, tag=None):
    """A route of rport's dialect: 401 always; 403 for a route that writes (a
    read-scoped token) or needs a permission; the other errors as listed."""
    r = dict(success)
    errs = set(errors) | {401}
    if method != "GET" or perm:
        errs.add(403)
    if body is not None:
        errs.add(413)
    if "{" in path:
        errs.add(400)       # a path segment that is no valid value ("..", "%00")
    for e in errs:
        r[e] = rport_err(e)
    d = desc or ""
    if perm:
        d = (d + " " if d else "") + "Needs: %s." % perm
    if method != "GET":
        d = (d + " " if d else "") + "A read-scoped token is refused (403)."
    op(method, "/api/v1" + path, op_id, summary, r, tag or path.split("/")[1],
       body=body, query=query, desc=d or None)


PAGE = ("page[limit]", "page[offset]")
JOB_LIST_Q = ("sort", "filter[status]", "filter[jid]", "fields[jobs]") + PAGE

# login and the caller
rport("POST", "/login", "login", "Log in: a bearer token (basic auth or a JSON body)",
      ok(data(ref("LoginToken"))), [400],
      body=obj({"username": STR, "password": STR}), query=("token-lifetime",), tag="auth")
rport("GET", "/login", "loginGet", "Log in with basic auth: a bearer token",
      ok(data(ref("LoginToken"))), [400], query=("token-lifetime",), tag="auth")
rport("DELETE", "/logout", "logout", "Revoke the bearer token of this call", NO_CONTENT,
      [400], tag="auth")
rport("GET", "/me", "meGet", "The caller, their groups and permissions", ok(data(ref("Me"))),
      tag="me")
rport("PUT", "/me", "mePut", "Change one's own password", NO_CONTENT, [400],
      body=obj({"username": STR, "password": STR, "old_password": STR,
                "two_fa_send_to": STR}, extra=False), tag="me")
rport("GET", "/me/ip", "meIpGet", "The address the request came from",
      ok(data(obj({"ip": STR}, ["ip"]))), tag="me")
rport("GET", "/me/tokens", "meTokensList", "The caller's API tokens",
      ok(obj({"data": arr(ref("ApiToken"))}, ["data"])), tag="me")
rport("POST", "/me/tokens", "meTokensCreate", "Create an API token (shown once)",
      ok(data(ref("ApiToken"))), [400, 409],
      body=obj({"name": STR, "scope": {"enum": ["read", "read+write", "metrics"]},
                "expires_at": STR}, extra=False), tag="me")
rport("DELETE", "/me/tokens/{prefix}", "meTokensDelete", "Revoke an API token", NO_CONTENT,
      [404], tag="me")
rport("GET", "/me/tat-keys", "meTatKeysList", "The caller's TAT key pairs",
      ok(listing(ref("TatKey"))), tag="me")
rport("POST", "/me/tat-keys", "meTatKeysCreate", "Create a TAT key pair (secret shown once)",
      ok(data(ref("TatKey")), status=201), tag="me")
rport("DELETE", "/me/tat-keys/{secret_id}", "meTatKeysDelete", "Delete a TAT key pair",
      NO_CONTENT, [404], tag="me")
rport("GET", "/status", "statusGet", "The server's status (rport's fields)",
      ok(data(ref("Status"))), tag="status")
rport("GET", "/openapi.json", "openapiGet", "This document",
      ok({"type": "object", "required": ["openapi", "paths"]}), tag="status")
rport("GET", "/auditlog", "auditlogList", "The audit log, newest first",
      ok(listing(ref("AuditEntry"))), [400], query=("filter[action]", "filter[username]") + PAGE,
      perm="administrator")

# clients
rport("GET", "/clients", "clientsList", "The clients the caller may use",
      ok(listing(ref("Client"))), [400],
      query=("filter[id]", "filter[tags]", "sort", "fields[clients]") + PAGE)
rport("GET", "/clients/{client_id}", "clientsGet", "One client", ok(data(ref("Client"))),
      [404])
rport("DELETE", "/clients/{client_id}", "clientsDelete", "Forget a disconnected client",
      NO_CONTENT, [400, 404], perm="administrator")
rport("GET", "/clients-auth", "clientsAuthList", "Client credentials (no passwords)",
      ok(listing(ref("ClientAuth"))), perm="administrator", tag="clients-auth")
rport("POST", "/clients-auth", "clientsAuthCreate", "Add a client credential",
      ok(data(obj({"id": STR}, ["id"])), "Created.", 201), [400, 409],
      body=obj({"id": STR, "password": STR}, extra=False), perm="administrator",
      tag="clients-auth")
rport("GET", "/clients-auth/{id}", "clientsAuthGet", "One client credential",
      ok(data(ref("ClientAuth"))), [404], perm="administrator", tag="clients-auth")
rport("DELETE", "/clients-auth/{id}", "clientsAuthDelete",
      "Delete a client credential (its agents are disconnected)", NO_CONTENT, [404],
      perm="administrator", tag="clients-auth")
rport("GET", "/client-tags", "clientTagsList", "Tags and the clients that have them",
      ok(listing(ref("ClientTag"))), tag="clients")

# enrollment
rport("GET", "/enrollment-codes", "enrollmentCodesList", "Enrollment codes (no secrets)",
      ok(listing(ref("EnrollmentCode"))), perm="administrator", tag="enrollment")
rport("POST", "/enrollment-codes", "enrollmentCodesCreate",
      "Create an enrollment code (shown once)", ok(data(ref("EnrollmentCode")), status=201),
      [400], body=obj({"expires_in_sec": INT, "max_uses": INT, "id_pattern": STR,
                       "tags": STRS, "labels": LABELS}, extra=False),
      perm="administrator", tag="enrollment")
rport("DELETE", "/enrollment-codes/{id}", "enrollmentCodesDelete", "Revoke an enrollment code",
      NO_CONTENT, [404], perm="administrator", tag="enrollment")

# commands on one client
rport("POST", "/clients/{client_id}/commands", "clientCommandsCreate",
      "Run a command on one client", ok(data(ref("JobStarted"))), [400, 404, 409, 422], body=ref("CommandRequest"), perm="commands", tag="commands")
rport("GET", "/clients/{client_id}/commands", "clientCommandsList", "A client's jobs",
      ok(listing(ref("Job"))), [400], query=JOB_LIST_Q, tag="commands")
rport("GET", "/clients/{client_id}/commands/{jid}", "clientCommandsGet", "One job",
      ok(data(ref("Job"))), [404], tag="commands")
rport("DELETE", "/clients/{client_id}/commands/{jid}", "clientCommandsCancel",
      "Cancel a running or queued job", ok(data(ref("Cancelling")), status=202), [404, 409],
      perm="commands", tag="commands")
rport("POST", "/clients/{client_id}/scripts", "clientScriptsCreate",
      "Run a script on one client", ok(data(ref("JobStarted"))), [400, 404],
      body=ref("CommandRequest"), perm="scripts", tag="commands")

# multi-client commands
rport("POST", "/commands", "commandsCreate", "Run a command on many clients",
      ok(data(obj({"jid": STR}, ["jid"]))), [400, 404],
      body=ref("MultiCommandRequest"), perm="commands", tag="commands")
rport("GET", "/commands", "commandsList", "Multi-client jobs", ok(listing(ref("MultiJob"))),
      [400], query=("sort",) + PAGE, tag="commands")
rport("GET", "/commands/{jid}", "commandsGet", "One multi-client job",
      ok(data(ref("MultiJob"))), [404], tag="commands")
rport("GET", "/commands/{jid}/jobs", "commandsJobs", "A multi-client job's jobs",
      ok(listing(ref("Job"))), [400], query=JOB_LIST_Q, tag="commands")
rport("DELETE", "/commands/{jid}", "commandsCancel", "Stop a multi-client job",
      ok(data(ref("Cancelling")), status=202), [404, 409], perm="commands", tag="commands")
rport("POST", "/scripts", "scriptsCreate", "Run a script on many clients",
      ok(data(obj({"jid": STR}, ["jid"]))), [400, 404],
      body=ref("MultiCommandRequest"), perm="scripts", tag="commands")

# client groups
rport("GET", "/client-groups", "clientGroupsList", "Client groups",
      ok(listing(ref("ClientGroup"))))
rport("POST", "/client-groups", "clientGroupsCreate", "Create a client group",
      ok(data(ref("ClientGroup")), "Created.", 201), [400, 409],
      body=ref("ClientGroup"), perm="administrator")
rport("GET", "/client-groups/{id}", "clientGroupsGet", "One client group",
      ok(data(ref("ClientGroup"))), [404])
rport("PUT", "/client-groups/{id}", "clientGroupsPut", "Replace a client group", NO_CONTENT,
      [400], body=ref("ClientGroup"), perm="administrator")
rport("DELETE", "/client-groups/{id}", "clientGroupsDelete", "Delete a client group",
      NO_CONTENT, [404], perm="administrator")

# users and user groups
rport("GET", "/users", "usersList", "Users (no password hashes)", ok(listing(ref("User"))),
      perm="administrator")
rport("POST", "/users", "usersCreate", "Create a user",
      ok(data(obj({"username": STR}, ["username"])), "Created.", 201),
      [400, 409], body=obj({"username": STR, "password": STR, "groups": STRS,
                             "locked": BOOL}, extra=False), perm="administrator")
rport("PUT", "/users/{username}", "usersPut", "Change a user", NO_CONTENT, [400, 404],
      body=obj({"username": STR, "password": STR, "groups": STRS, "locked": BOOL},
               extra=False), perm="administrator")
rport("DELETE", "/users/{username}", "usersDelete", "Delete a user", NO_CONTENT, [404],
      perm="administrator")
rport("GET", "/user-groups", "userGroupsList", "User groups", ok(listing(ref("UserGroup"))),
      perm="administrator")
rport("GET", "/user-groups/{name}", "userGroupsGet", "One user group",
      ok(data(ref("UserGroup"))), [404], perm="administrator")
rport("PUT", "/user-groups/{name}", "userGroupsPut", "Set a user group's permissions",
      ok(data(ref("UserGroup"))), [400],
      body=obj({"name": STR, "permissions": {"type": "object"}}, extra=False),
      perm="administrator")
rport("DELETE", "/user-groups/{name}", "userGroupsDelete", "Delete a user group", NO_CONTENT,
      [404], perm="administrator")

# bans
rport("GET", "/bans", "bansList", "Brute-force bans in force", ok(listing(ref("Ban"))),
      perm="administrator")
rport("DELETE", "/bans/{kind}/{key}", "bansDelete", "Lift a ban", NO_CONTENT, [400, 404],
      perm="administrator")

# the library
for kind, schema, perm in (("commands", "LibraryCommand", "commands"),
                           ("scripts", "LibraryScript", "scripts")):
    K = kind.capitalize()
    body = obj({"name": STR, "cmd": STR, "script": STR, "interpreter": STR, "cwd": STR,
                "is_sudo": BOOL, "tags": STRS, "timeout_sec": INT}, extra=False)
    rport("GET", "/library/" + kind, "library%sList" % K, "Saved %s" % kind,
          ok(listing(ref(schema))), [400], query=("sort", "fields[%s]" % kind) + PAGE,
          tag="library")
    rport("POST", "/library/" + kind, "library%sCreate" % K, "Save a %s" % kind[:-1],
          ok(data(ref(schema)), status=201), [400, 409], body=body, perm=perm, tag="library")
    rport("GET", "/library/%s/{id}" % kind, "library%sGet" % K, "One saved %s" % kind[:-1],
          ok(data(ref(schema))), [404], tag="library")
    rport("PUT", "/library/%s/{id}" % kind, "library%sPut" % K,
          "Replace a saved %s" % kind[:-1], ok(data(ref(schema))), [400, 404], body=body,
          perm=perm, tag="library")
    rport("DELETE", "/library/%s/{id}" % kind, "library%sDelete" % K,
          "Delete a saved %s" % kind[:-1], NO_CONTENT, [404], perm=perm, tag="library")
    rport("POST", "/library/%s/{id}/run" % kind, "library%sRun" % K,
          "Run a saved %s on many clients" % kind[:-1],
          ok(data(obj({"jid": STR}, ["jid"]))), [400, 404], body=ref("LibraryRunRequest"),
          perm=perm, tag="library")

# schedules
SCHED_BODY = obj({"name": STR, "schedule": STR, "type": {"enum": ["command", "script"]},
                  "command": STR, "script": STR, "library_id": STR, "client_ids": STRS,
                  "group_ids": STRS, "tags": {}, "interpreter": STR, "cwd": STR,
                  "is_sudo": BOOL, "timeout_sec": INT, "execute_concurrently": BOOL,
                  "abort_on_error": BOOL, "overlaps": BOOL}, extra=False)
rport("GET", "/schedules", "schedulesList", "The caller's schedules",
      ok(listing(ref("Schedule"))), [400], query=("sort",) + PAGE, perm="scheduler")
rport("POST", "/schedules", "schedulesCreate", "Create a schedule",
      ok(data(ref("Schedule")), status=201), [400, 404], body=SCHED_BODY, perm="scheduler")
rport("GET", "/schedules/{id}", "schedulesGet", "One schedule", ok(data(ref("Schedule"))),
      [404], perm="scheduler")
rport("PUT", "/schedules/{id}", "schedulesPut", "Replace a schedule",
      ok(data(ref("Schedule"))), [400, 404, 409], body=SCHED_BODY, perm="scheduler",
      desc="409: the schedule is another API's (a TAT invoker), changed only there.")
rport("DELETE", "/schedules/{id}", "schedulesDelete", "Delete a schedule", NO_CONTENT, [404, 409],
      perm="scheduler", desc="409: the schedule is another API's (a TAT invoker), deleted only there.")

# the streaming API: WebSocket upgrades
for kind, perm in (("commands", "commands"), ("scripts", "scripts")):
    op("GET", "/api/v1/ws/" + kind, "ws%s" % kind.capitalize(),
       "Stream a multi-client %s's output (WebSocket)" % kind[:-1],
       {101: {"description": "Switching Protocols: a WebSocket. Send one frame, the body of "
                             "POST /%s; the server sends partial output frames, then each "
                             "final Job, then closes (1000)." % kind},
        401: {"description": "No credentials (body `token required`), or wrong ones."},
        403: {"description": "The browser's Origin is not in [api] allowed_origins."}},
       "streaming",
       query=("access_token", "announce"),
       security=SEC_RPORT + [{"accessToken": []}],
       extra={"x-websocket": True,
              "x-websocket-request": ref("MultiCommandRequest")})

# ---------------------------------------------------------------- Elastic

SEC_ELASTIC = [{"basic": []}, {"bearer": []}, {"apiKey": []}]


def es_err(status, desc):
    return {"description": desc,
            "content": {"application/json; charset=utf-8": {"schema": ref("ElasticError")}}}


def es_ok(schema, desc="Success."):
    return {200: {"description": desc,
                  "content": {"application/json; charset=utf-8": {"schema": schema}}}}


def elastic(method, path, op_id, summary, success, errors, body=None, query=(), tag="elastic"):
    r = dict(success)
    r[401] = es_err(401, "No credentials, or wrong ones.")
    r[400] = es_err(400, ES_400)
    if method != "GET":
        r[403] = es_err(403, "Endpoint authorization failure (a read-scoped token, or no "
                             "commands permission).")
    if body is not None:
        # answered by the network layer itself, in Kibana's envelope
        r[413] = es_err(413, "The body is over [api] max_request_bytes.")
    for e, d in errors.items():
        r[e] = es_err(e, d)
    params = ([{"name": "elastic-api-version", "in": "header", "required": False,
                "schema": {"enum": ["2023-10-31"]}}] +
              ([{"name": "kbn-xsrf", "in": "header", "required": True, "schema": STR}]
               if method != "GET" else []))
    op(method, path, op_id, summary, r, tag, body=body, query=query, security=SEC_ELASTIC)
    PATHS[path][method.lower()].setdefault("parameters", []).extend(params)


ES_400 = "A schema error naming the field, a missing kbn-xsrf header, or an unknown " \
         "elastic-api-version."
elastic("POST", "/api/endpoint/action/execute", "elasticExecute",
        "Run a command on endpoints (Elastic Defend's execute)",
        es_ok(data(ref("ElasticAction"))),
        {400: ES_400, 403: "Endpoint authorization failure (no commands permission, or a "
                           "read-scoped token)."},
        body=ref("ElasticExecuteRequest"))
elastic("POST", "/api/endpoint/action/cancel", "elasticCancel", "Cancel an action",
        es_ok(data(ref("ElasticAction"))),
        {400: ES_400, 403: "Endpoint authorization failure.",
         404: "Action with id '<id>' not found."},
        body=obj({"parameters": obj({"id": STR}, ["id"]), "endpoint_ids": STRS,
                  "agent_type": STR, "comment": STR}, ["parameters"]))
elastic("GET", "/api/endpoint/action", "elasticActionList", "The action log",
        es_ok(obj({"page": INT, "pageSize": INT, "total": INT,
                   "data": arr(ref("ElasticAction"))}, ["data", "total"])),
        {400: ES_400},
        query=("page", "pageSize", "commands", "agentIds", "userIds", "startDate",
               "endDate", "statuses", "types", "withOutputs"))
elastic("GET", "/api/endpoint/action_status", "elasticActionStatus",
        "Pending actions per endpoint",
        es_ok(obj({"data": arr(obj({"agent_id": STR, "pending_actions": {"type": "object"}},
                                   ["agent_id", "pending_actions"]))}, ["data"])),
        {400: ES_400}, query=("agent_ids",))
elastic("GET", "/api/endpoint/action/{action_id}", "elasticActionGet",
        "One action's details and outputs", es_ok(data(ref("ElasticAction"))),
        {404: "Action with id '<id>' not found."})
elastic("GET", "/api/endpoint/action/{action_id}/file/{file_id}", "elasticFileInfo",
        "An action's output file: its info",
        es_ok(data(obj({"id": STR, "agentId": STR, "name": STR, "size": INT,
                        "status": STR, "mimeType": STR, "actionId": STR, "created": STR},
                       ["id", "name", "size"]))),
        {404: "No such action or file."})
op("GET", "/api/endpoint/action/{action_id}/file/{file_id}/download", "elasticFileDownload",
   "An action's output file: a zip (password `elastic`) of stdout and stderr",
   {200: {"description": "The zip.", "content": {"application/octet-stream": {"schema": {
       "type": "string", "contentMediaType": "application/zip"}}}},
    400: es_err(400, ES_400),
    401: es_err(401, "No credentials, or wrong ones."),
    404: es_err(404, "No such action or file.")},
   "elastic", query=("elastic-api-version",), security=SEC_ELASTIC)
elastic("POST", "/api/security/api_key", "elasticApiKeyCreate",
        "Create an API key (shown once)", es_ok(ref("ElasticApiKey")),
        {400: "No name, or a name that is not 1 to 128 characters; or no kbn-xsrf header."},
        body=obj({"name": STR}, ["name"]), tag="api-keys")
elastic("GET", "/api/security/api_key", "elasticApiKeyList",
        "The caller's API keys (administrators: all)",
        es_ok(obj({"apiKeys": arr({"type": "object"})}, ["apiKeys"])), {}, tag="api-keys")
elastic("DELETE", "/api/security/api_key/{id}", "elasticApiKeyDelete", "Revoke an API key",
        es_ok(obj({"invalidated_api_keys": STRS}, ["invalidated_api_keys"])),
        {400: "No kbn-xsrf header.", 404: "API key with id '<id>' not found."},
        tag="api-keys")

# ---------------------------------------------------------------- TAT

_tat_one_of = [ref("Tat%sRequest" % a) for a in TAT_ACTIONS]
_tat_resp_one_of = [ref("Tat%sResponse" % a) for a in TAT_ACTIONS] + [ref("TatError")]
op("POST", "/", "tat", "Tencent Cloud TAT API (one action per request, X-TC-Action)",
   {200: json_resp("Every TAT answer is HTTP 200: the action's Response, or "
                   "Response.Error (schema TatError). x-tat-actions maps each action to its "
                   "request and response.", {"anyOf": _tat_resp_one_of})},
   "tat", body={"anyOf": _tat_one_of}, security=[{"tc3": []}],
   desc="Requests are signed with TC3-HMAC-SHA256 (security scheme tc3) with a key pair "
        "from POST /api/v1/me/tat-keys or [tat] secret_id. Headers X-TC-Action (the "
        "action), X-TC-Version (2020-10-28) and X-TC-Timestamp (Unix seconds, within 300 s "
        "of the server's clock) are required; Content-Type: application/json. The request "
        "body is the action's parameters (x-tat-actions names its schema); unknown "
        "parameters answer UnknownParameter, a wrong type InvalidParameter. Actions known "
        "by name but not served yet (%s) answer UnsupportedOperation."
        % ", ".join(TAT_LATER),
   extra={"parameters": [
       {"name": "X-TC-Action", "in": "header", "required": True,
        "schema": {"enum": list(TAT_ACTIONS)}},
       {"name": "X-TC-Version", "in": "header", "required": True,
        "schema": {"const": "2020-10-28"}},
       {"name": "X-TC-Timestamp", "in": "header", "required": True, "schema": STR}],
       "x-tat-actions": {a: {"request": ref("Tat%sRequest" % a),
                             "response": ref("Tat%sResponse" % a),
                             "permission": p[3]}
                         for a, p in TAT_ACTIONS.items()},
       "x-tat-unsupported": TAT_LATER,
       "x-tat-errors": ["MissingParameter", "InvalidParameter", "UnknownParameter",
                        "InvalidParameterValue.InvalidInvokerId",
                        "InvalidAction", "UnsupportedOperation", "NoSuchVersion",
                        "UnsupportedProtocol", "RequestLimitExceeded",
                        "AuthFailure.InvalidAuthorization", "AuthFailure.SignatureExpire",
                        "AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound",
                        "AuthFailure.UnauthorizedOperation",
                        "UnauthorizedOperation.CamAuthFailed", "ResourceNotFound",
                        "InternalError"]})

# ---------------------------------------------------------------- probes, metrics

for path, op_id, summary, extra503 in (
        ("/healthz", "healthz", "Liveness: the process answers", None),
        ("/readyz", "readyz", "Readiness: the store accepts a commit and both listeners "
                              "are open", True)):
    r = {200: json_resp("Alive / ready.", ref("Probe"))}
    if extra503:
        r[503] = untested(json_resp("Not ready: `failing` says what (store, listeners), "
                                    "or `stopping`.", ref("Probe")),
                          "needs a failing store or a server in the middle of stopping")
    op("GET", path, op_id, summary, r, "health", security=[],
       desc="No credentials (the only routes without); says nothing else. Also HEAD; any "
            "other method answers 405.")

op("GET", "/metrics", "metrics", "Prometheus metrics (text format 0.0.4)",
   {200: {"description": "The series.", "content": {"text/plain; version=0.0.4": {
       "schema": STR}}},
    401: {"description": "No API token, or a password.", "content": {"text/plain": {
        "schema": STR}}},
    403: {"description": "A token of a user who is no administrator and not of scope "
                         "metrics.", "content": {"text/plain": {"schema": STR}}}},
   "metrics", security=[{"basic": []}, {"bearer": []}],
   desc="An API token of scope metrics (any user's) or any API token of an administrator, "
        "as the password of basic auth, or an administrator's bearer token. Also served on "
        "[metrics] address when it is set. Also HEAD; any other method answers 405.")

# ---------------------------------------------------------------- the document

DOC = {
    "openapi": "3.1.0",
    "info": {
        "title": "tether API",
        "version": "1",
        "description": "Every route of tetherd's API listener: rport's API (/api/v1) with "
                       "tether's additions, the streaming API (WebSocket upgrades, "
                       "documented as GET answering 101), the Elastic Defend response "
                       "actions (/api/endpoint, /api/security/api_key), the Tencent Cloud "
                       "TAT API (POST /, X-TC-Action), the health probes and /metrics. "
                       "Each dialect answers errors in its own envelope: RportError, "
                       "ElasticError, TatError. Prose: docs/api.md, docs/api-elastic.md, "
                       "docs/api-tat.md.",
        "license": {"name": "see the repository"}},
    "servers": [{"url": "http://127.0.0.1:3000", "description": "[api] address"}],
    "security": SEC_RPORT,
    "tags": [{"name": t} for t in sorted({o["tags"][0] for p in PATHS.values()
                                          for o in p.values()})],
    "paths": {p: PATHS[p] for p in sorted(PATHS)},
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic",
                      "description": "A user and password, or a user and an API token "
                                     "(POST /api/v1/me/tokens) as the password."},
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "A login token from POST or GET /api/v1/login."},
            "accessToken": {"type": "apiKey", "in": "query", "name": "access_token",
                            "description": "A login token, on the /api/v1/ws/ routes."},
            "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                       "description": "Elastic's `Authorization: ApiKey base64(id:api_key)` "
                                      "with a key from POST /api/security/api_key; on the "
                                      "Elastic routes."},
            "tc3": {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "Tencent Cloud's TC3-HMAC-SHA256 signature: "
                                   "`TC3-HMAC-SHA256 Credential=SecretId/Date/tat/tc3_request, "
                                   "SignedHeaders=content-type;host;..., Signature=hex` over "
                                   "the canonical request (method, path /, query, the signed "
                                   "headers, the body's SHA-256), with a key derived from "
                                   "the secret key, the UTC date and the service. On POST / "
                                   "only."},
        },
    },
}


def render():
    return json.dumps(DOC, indent=1, sort_keys=False) + "\n"


def main():
    out = os.path.join(HERE, "openapi.json")
    if "--check" in sys.argv:
        with open(out) as f:
            if f.read() != render():
                sys.stderr.write("api/openapi.json is not what api/openapi.py makes: run "
                                 "python3 api/openapi.py > api/openapi.json\n")
                return 1
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
