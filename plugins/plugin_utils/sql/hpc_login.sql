-- hpcops.aws_hpc win_hpc_sqlserver apply: the SQL login HPC Pack connects with (its connection strings carry
-- "Integrated Security=False;User ID=...;Password=..."). What the reference deployment's
-- AddDbUserForHpcSetupUser.sql / AddDbUserForHpcService.sql do at server level (arjanvanbekkum/HPC at
-- c5895f5d895683773d16a143eb996d5e9552efaa: "if not exists (select * from sys.server_principals where name = ...)
-- CREATE LOGIN [...] WITH PASSWORD = '...', CHECK_EXPIRATION = OFF"), without their TRY/CATCH that hides a
-- failure, plus: a login whose password differs is given @password when @reset_password = 1, and a disabled
-- login is enabled.
-- Parameters, bound by SqlClient and never spliced into this text by the caller: @login_name, @password,
-- @reset_password. CREATE/ALTER LOGIN take the password only as a literal, so the statement is built here on
-- the server, with the name quoted by QUOTENAME and the password's quotes doubled, and run by sp_executesql:
-- the password reaches the server as a parameter value, never as part of a text the host or the controller
-- builds or logs.
DECLARE @sql NVARCHAR(MAX);
DECLARE @type CHAR(1);
SET @type = (SELECT sp.type FROM sys.server_principals AS sp WHERE sp.name = @login_name);
IF @type IS NOT NULL AND @type <> 'S'
BEGIN
    RAISERROR (N'the login exists and is not a SQL login; HPC Pack connects with a user name and password', 16, 1);
    RETURN;
END;
IF @type IS NULL
BEGIN
    SET @sql = N'CREATE LOGIN ' + QUOTENAME(@login_name)
        + N' WITH PASSWORD = N''' + REPLACE(@password, N'''', N'''''') + N''', CHECK_EXPIRATION = OFF';
    EXEC sys.sp_executesql @sql;
END
ELSE IF @reset_password = 1
    AND NOT EXISTS (SELECT 1 FROM sys.sql_logins AS sl WHERE sl.name = @login_name AND PWDCOMPARE(@password, sl.password_hash) = 1)
BEGIN
    SET @sql = N'ALTER LOGIN ' + QUOTENAME(@login_name)
        + N' WITH PASSWORD = N''' + REPLACE(@password, N'''', N'''''') + N'''';
    EXEC sys.sp_executesql @sql;
END;
IF EXISTS (SELECT 1 FROM sys.server_principals AS sp WHERE sp.name = @login_name AND sp.is_disabled = 1)
BEGIN
    SET @sql = N'ALTER LOGIN ' + QUOTENAME(@login_name) + N' ENABLE';
    EXEC sys.sp_executesql @sql;
END;
