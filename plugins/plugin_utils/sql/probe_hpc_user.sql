-- hpcops.aws_hpc win_hpc_sqlserver probe, run in each HPC database: the database user of the login @login_name.
-- One row per user that is named like the login or mapped to the login's sid: mapped = 0 is an orphaned user
-- (a database attached from another instance keeps the sid of that instance's login), db_owner = 1 when the
-- user is a member of db_owner (IS_ROLEMEMBER; dbo counts as a member).
-- Parameter, bound by SqlClient: @login_name.
SELECT
    dp.name AS user_name,
    CASE WHEN dp.sid = SUSER_SID(@login_name) THEN 1 ELSE 0 END AS mapped,
    IS_ROLEMEMBER(N'db_owner', dp.name) AS db_owner
FROM sys.database_principals AS dp
WHERE dp.name = @login_name OR dp.sid = SUSER_SID(@login_name);
