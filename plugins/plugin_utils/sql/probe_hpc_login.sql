-- hpcops.aws_hpc win_hpc_sqlserver probe: the server login HPC Pack connects with (@login_name), whether it is
-- a SQL login, whether it is disabled, and whether its password is @password (PWDCOMPARE, learn.microsoft.com
-- sql/t-sql/functions/pwdcompare-transact-sql; the password_hash column needs CONTROL SERVER, which sysadmin has).
-- Parameters, bound by SqlClient and never spliced into this text by the caller: @login_name, @password.
-- No row: the login does not exist.
SELECT
    sp.name,
    sp.type_desc,
    CAST(sp.is_disabled AS INT) AS is_disabled,
    CASE WHEN sl.password_hash IS NULL THEN NULL ELSE PWDCOMPARE(@password, sl.password_hash) END AS password_matches
FROM sys.server_principals AS sp
LEFT JOIN sys.sql_logins AS sl ON sl.principal_id = sp.principal_id
WHERE sp.name = @login_name;
