-- hpcops.aws_hpc: authentication mode (seed 000's update_sql_mixed_mode.sql); @login_mode is
-- 1 (Windows only) or 2 (mixed). Takes effect when the service restarts.
EXEC master.dbo.xp_instance_regwrite
    N'HKEY_LOCAL_MACHINE',
    N'Software\Microsoft\MSSQLServer\MSSQLServer',
    N'LoginMode',
    REG_DWORD,
    @login_mode;
