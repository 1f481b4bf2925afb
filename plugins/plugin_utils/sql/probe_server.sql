-- hpcops.aws_hpc win_hpc_sqlserver probe: authentication mode (configured in the registry and in
-- effect since the last start) and whether the sa login (sid 0x01, whatever its name) is disabled.
DECLARE @login_mode_configured INT;
EXEC master.dbo.xp_instance_regread
    N'HKEY_LOCAL_MACHINE',
    N'Software\Microsoft\MSSQLServer\MSSQLServer',
    N'LoginMode',
    @login_mode_configured OUTPUT;
SELECT
    CAST(SERVERPROPERTY('IsIntegratedSecurityOnly') AS INT) AS integrated_only,
    @login_mode_configured AS login_mode_configured,
    (SELECT CAST(sp.is_disabled AS INT) FROM sys.server_principals AS sp WHERE sp.sid = 0x01) AS sa_disabled;
