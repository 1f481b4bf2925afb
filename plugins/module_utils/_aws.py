# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one AWS client factory of the collection (private: not a public API).

Every boto3 client the collection makes (modules, the inventory plugin, the services and the
benchmarks) comes from here, so region, profile, endpoint URL, credentials (explicit keys, a
session token, an assumed role), certificate checks and botocore's retry mode are decided in one
place. The endpoint URL is the standard botocore setting: when none is given, botocore itself
honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``.

Credential values never appear in the errors raised here.
"""

from __future__ import annotations

import functools
import re

RETRY_MODES = ("adaptive", "standard", "legacy")
DEFAULT_RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
# RoleSessionName of an AssumeRole call (2-64 characters of [\w+=,.@-]); shows in CloudTrail
DEFAULT_ROLE_SESSION_NAME = "hpcops.aws_hpc"
_ROLE_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")

try:
    import boto3
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
    # What an AWS call can raise: the service's answer or botocore's own failure.
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except ImportError as exc:  # pragma: no cover - exercised only where boto3 is missing
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc
    AWS_ERRORS = ()


class AWSConfigError(ValueError):
    """An option given to the client factory is wrong or could not be used; the message names the option.

    ``option`` is the name of that option when one is to blame (``assume_role_arn`` when STS refused
    the role, ``region`` when STS has no region), and ``cause`` the reason without the option's name,
    for callers that word the message themselves.
    """

    def __init__(self, message, option=None, cause=None):
        super().__init__(message)
        self.option = option
        self.cause = message if cause is None else cause


def retry_config(retry_mode=None, max_attempts=None):
    """Return the botocore retry settings, validating them first (attempts count the first call)."""
    mode = retry_mode or DEFAULT_RETRY_MODE
    if mode not in RETRY_MODES:
        raise AWSConfigError(f"retry_mode must be one of {', '.join(RETRY_MODES)}, got {mode!r}")
    attempts = DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise AWSConfigError(f"max_attempts must be a whole number of at least 1, got {attempts!r}")
    return {"mode": mode, "total_max_attempts": attempts}


def session_kwargs(profile=None, access_key=None, secret_key=None, session_token=None, region=None):
    """Keyword arguments for ``boto3.session.Session``; a profile excludes explicit keys."""
    if profile and (access_key or secret_key or session_token):
        raise AWSConfigError("profile cannot be combined with access_key/secret_key/session_token")
    if bool(access_key) != bool(secret_key):
        raise AWSConfigError("access_key and secret_key must be given together")
    kwargs = {}
    if profile:
        kwargs["profile_name"] = profile
    if access_key:
        kwargs["aws_access_key_id"] = access_key
        kwargs["aws_secret_access_key"] = secret_key
    if session_token:
        kwargs["aws_session_token"] = session_token
    if region:
        kwargs["region_name"] = region
    return kwargs


def make_session(*, profile=None, access_key=None, secret_key=None, session_token=None, region=None,
                 botocore_session=None, assume_role_arn=None, role_session_name=None, endpoint_url=None,
                 validate_certs=True, ca_bundle=None, aws_config=None, max_attempts=None):
    """Build a boto3 session (optionally on top of a prepared botocore session).

    The session takes ``profile`` or the explicit keys (with ``session_token`` for temporary
    credentials); with neither, boto3's own credential chain applies. With ``assume_role_arn`` those
    credentials only call STS AssumeRole (through ``endpoint_url`` and the certificate settings, with
    the ``standard`` retry mode) and the returned session holds the role's temporary credentials;
    its region is ``region`` or else the first session's default region (the profile's, for example).
    """
    kwargs = session_kwargs(profile, access_key, secret_key, session_token, region)
    if assume_role_arn:
        base = boto3.session.Session(**kwargs)
        role_region = region or base.region_name
        credentials = assume_role(
            base, assume_role_arn, session_name=role_session_name, region=role_region, endpoint_url=endpoint_url,
            validate_certs=validate_certs, ca_bundle=ca_bundle, aws_config=aws_config, max_attempts=max_attempts,
        )
        kwargs = session_kwargs(access_key=credentials["AccessKeyId"], secret_key=credentials["SecretAccessKey"],
                                session_token=credentials["SessionToken"], region=role_region)
    if botocore_session is not None:
        kwargs["botocore_session"] = botocore_session
    return boto3.session.Session(**kwargs)


def assume_role(session, role_arn, *, session_name=None, region=None, endpoint_url=None, validate_certs=True,
                ca_bundle=None, aws_config=None, max_attempts=None):
    """Call STS AssumeRole with ``session``'s credentials; return the temporary ``Credentials``.

    Failures raise :class:`AWSConfigError` naming ``assume_role_arn`` (``region`` when STS has no
    region) with the AWS error code and message; no credential value is part of the message.
    """
    name = session_name or DEFAULT_ROLE_SESSION_NAME
    if not _ROLE_SESSION_NAME.match(name):
        raise AWSConfigError(f"role session name must be 2 to 64 characters of letters, digits and +=,.@_-, "
                             f"got {name!r}", option="role_session_name")
    if not region:
        cause = "needs a region for the STS call; set region (or regions), AWS_REGION or a profile region"
        raise AWSConfigError(f"assume_role_arn {cause}", option="region", cause=f"assume_role_arn {cause}")
    sts = client("sts", session=session, region=region, endpoint_url=endpoint_url, retry_mode="standard",
                 max_attempts=max_attempts, validate_certs=validate_certs, ca_bundle=ca_bundle, aws_config=aws_config)
    try:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=name).get("Credentials") or {}
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        cause = f"cannot assume {role_arn}: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
        raise AWSConfigError(f"assume_role_arn: {cause}", option="assume_role_arn", cause=cause) from exc
    except botocore.exceptions.BotoCoreError as exc:
        cause = f"cannot assume {role_arn}: {exc}"
        raise AWSConfigError(f"assume_role_arn: {cause}", option="assume_role_arn", cause=cause) from exc
    if not all(credentials.get(key) for key in ("AccessKeyId", "SecretAccessKey", "SessionToken")):
        cause = f"cannot assume {role_arn}: STS answered without temporary credentials"
        raise AWSConfigError(f"assume_role_arn: {cause}", option="assume_role_arn", cause=cause)
    return credentials


def verify_setting(validate_certs=True, ca_bundle=None):
    """botocore's ``verify``: False when certificates are not checked, else the CA bundle when one is given.

    ``None`` (certificates checked, no bundle given) leaves the choice to botocore, which then
    honours ``AWS_CA_BUNDLE`` and the profile's ``ca_bundle``.
    """
    if validate_certs is False:
        return False
    return ca_bundle or None


def client(service, *, region=None, profile=None, endpoint_url=None, access_key=None, secret_key=None,
           session_token=None, retry_mode=None, max_attempts=None, validate_certs=True, ca_bundle=None,
           session=None, max_pool_connections=None, aws_config=None):
    """Return a boto3 client for ``service`` with the collection's retry policy.

    ``session`` reuses an existing boto3 session (credential resolution is then done once for many
    clients, for example one per region in the inventory plugin). ``aws_config`` holds extra
    botocore ``Config`` parameters (amazon.aws's ``aws_config`` option); the retry policy and the
    user agent stay the collection's.
    """
    if not HAS_BOTO3:
        raise AWSConfigError(f"boto3 is required: {BOTO3_IMPORT_ERROR}")
    config_kwargs = dict(aws_config or {})
    config_kwargs.update({"retries": retry_config(retry_mode, max_attempts), "user_agent_extra": "hpcops.aws_hpc"})
    if max_pool_connections:
        config_kwargs["max_pool_connections"] = max_pool_connections
    try:
        config = botocore.config.Config(**config_kwargs)
    except TypeError as exc:
        raise AWSConfigError(f"aws_config has a parameter botocore does not know: {exc}") from exc
    if session is None:
        session = make_session(profile=profile, access_key=access_key, secret_key=secret_key,
                               session_token=session_token, region=region)
    kwargs = {"config": config, "verify": verify_setting(validate_certs, ca_bundle)}
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return session.client(service, **kwargs)


def client_from_module(module, service):
    """Return a client configured from an ``AnsibleAWSModule``'s common options.

    Failures to configure the client end the module with a message naming the option.
    """
    params = module.params
    try:
        return client(
            service,
            region=params.get("region"),
            profile=params.get("profile"),
            endpoint_url=params.get("endpoint_url"),
            access_key=params.get("access_key"),
            secret_key=params.get("secret_key"),
            session_token=params.get("session_token"),
            validate_certs=params.get("validate_certs", True),
            ca_bundle=params.get("aws_ca_bundle"),
            aws_config=params.get("aws_config"),
        )
    except AWSConfigError as exc:
        module.fail_json(msg=f"Invalid AWS connection settings for {service}: {exc}")
    except botocore.exceptions.BotoCoreError as exc:
        module.fail_json(msg=f"Could not create the AWS {service} client: {exc}")
    return None  # pragma: no cover - fail_json exits


def error_code(exc):
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def error_cause(exc):
    """An AWS error for a message: ``Code: message`` for a ClientError, the exception's text otherwise."""
    code = error_code(exc)
    return f"{code}: {exc}" if code else str(exc)


# --- One AWS call and error path -------------------------------------------------------------------
# In the manner of amazon.aws's ``AWSErrorHandler``: code that talks to AWS raises ``AWSCallError``
# (what was being done, the AWS error code, message and request id); the module catches it once, in
# ``run_module``, and fails with the same keys ``fail_json_aws`` returns (``error``,
# ``response_metadata``). Services and benchmarks catch it too and log ``str(exc)``.


class ModuleFailure(Exception):
    """The module fails with ``msg`` and extra result keys; ``run_module`` turns it into one ``fail_json``.

    Module code raises it (or a subclass) instead of calling ``fail_json`` mid-flow, so a module exits once.
    """

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.msg = msg
        self.extra = extra

    def with_result(self, result):
        """Add the result collected so far (keys the failure carries itself win); returns the failure."""
        self.extra = {**result, **self.extra}
        return self

    def fail_kwargs(self, msg=None):
        return {**self.extra, "msg": msg or self.msg}


class AWSCallError(ModuleFailure):
    """An AWS call failed. ``str()`` reads ``Failed to <what>: <Code>: <message> (request id <id>)``."""

    def __init__(self, what, exc):
        self.what = what
        self.exception = exc
        response = getattr(exc, "response", None) or {}
        error = response.get("Error") or {}
        metadata = response.get("ResponseMetadata") or {}
        self.code = error.get("Code", "")
        self.message = error.get("Message", "") if self.code else str(exc)
        self.request_id = metadata.get("RequestId", "")
        self.http_status_code = metadata.get("HTTPStatusCode")
        self.retry_attempts = metadata.get("RetryAttempts")
        super().__init__(self._text())
        if self.code:
            self.extra["error"] = {"code": self.code, "message": self.message}
        if self.request_id or self.http_status_code is not None:
            self.extra["response_metadata"] = {"request_id": self.request_id,
                                               "http_status_code": self.http_status_code,
                                               "retry_attempts": self.retry_attempts}

    def _text(self):
        cause = f"{self.code}: {self.message}" if self.code else self.message
        text = f"Failed to {self.what}: {cause}" if self.what else cause
        return f"{text} (request id {self.request_id})" if self.request_id else text


def aws_call(what, method, *args, ignore=(), default=None, **kwargs):
    """Call ``method(*args, **kwargs)``; an AWS failure raises :class:`AWSCallError` naming ``what``.

    Errors whose code is in ``ignore`` (``InvalidInstanceID.NotFound``, for example) return ``default``.
    """
    try:
        return method(*args, **kwargs)
    except AWS_ERRORS as exc:
        if ignore and error_code(exc) in ignore:
            return default
        raise AWSCallError(what, exc) from exc


def paginate(what, client, operation, key, **kwargs):
    """Every ``key`` item of every page of ``client.<operation>(**kwargs)``, as one list."""
    def collect():
        found = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            found.extend(page.get(key) or [])
        return found
    return aws_call(what, collect)


def handles_aws_errors(what):
    """Decorator: AWS failures in the function raise :class:`AWSCallError` naming ``what``.

    ``what`` may use the call's keyword arguments and ``self`` (``"describe group {self.group_name}"``).
    """
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except AWS_ERRORS as exc:
                names = dict(kwargs)
                if args:
                    names.setdefault("self", args[0])
                try:
                    text = what.format(**names)
                except (KeyError, IndexError, AttributeError):
                    text = what
                raise AWSCallError(text, exc) from exc
        return wrapper
    return decorate


def run_module(module, body):
    """Run ``body()`` and exit the module once: ``exit_json(**result)``, or ``fail_json`` on an AWS failure.

    ``body`` returns the result dict. A :class:`ModuleFailure` becomes one ``fail_json`` (an
    :class:`AWSCallError` with the error code, message and request id); an :class:`AWSConfigError` (a
    connection option is wrong) names the option.
    """
    try:
        result = body()
    except ModuleFailure as exc:
        module.fail_json(**exc.fail_kwargs())
    except AWSConfigError as exc:
        module.fail_json(msg=f"Invalid AWS connection settings: {exc}")
    else:
        module.exit_json(**result)
