-- hpcops.aws_hpc win_hpc_sqlserver apply, run in one HPC database: the login @login_name gets a database user
-- that is a member of db_owner. What the reference deployment's AddDbUserForHpcSetupUser.sql /
-- AddDbUserForHpcService.sql do in each database (arjanvanbekkum/HPC at c5895f5d895683773d16a143eb996d5e9552efaa:
-- "if not exists (select * from sys.database_principals where name = ...) create user [...]",
-- "ALTER USER [...] WITH LOGIN = [...]", sp_addrolemember db_datareader, db_datawriter, db_ddladmin, db_owner,
-- GRANT ALTER / EXECUTE / VIEW DEFINITION): db_owner holds every one of those permissions
-- (learn.microsoft.com sql/relational-databases/security/authentication-access/database-level-roles), so only
-- db_owner is granted, with ALTER ROLE ... ADD MEMBER (sp_addrolemember is deprecated).
-- Idempotent: a user already mapped to the login is kept (whatever its name; dbo of a database the login owns
-- is db_owner already); a user named like the login but orphaned (a database attached from another instance)
-- is mapped to this instance's login with ALTER USER ... WITH LOGIN; otherwise the user is created.
-- Parameter, bound by SqlClient and never spliced into this text by the caller: @login_name.
DECLARE @sql NVARCHAR(MAX);
DECLARE @sid VARBINARY(85);
DECLARE @user SYSNAME;
SET @sid = SUSER_SID(@login_name);
IF @sid IS NULL
BEGIN
    RAISERROR (N'the login does not exist on this instance', 16, 1);
    RETURN;
END;
SET @user = (SELECT dp.name FROM sys.database_principals AS dp WHERE dp.sid = @sid);
IF @user IS NULL
BEGIN
    IF EXISTS (SELECT 1 FROM sys.database_principals AS dp WHERE dp.name = @login_name)
        SET @sql = N'ALTER USER ' + QUOTENAME(@login_name) + N' WITH LOGIN = ' + QUOTENAME(@login_name);
    ELSE
        SET @sql = N'CREATE USER ' + QUOTENAME(@login_name) + N' FOR LOGIN ' + QUOTENAME(@login_name);
    EXEC sys.sp_executesql @sql;
    SET @user = @login_name;
END;
IF IS_ROLEMEMBER(N'db_owner', @user) = 0
BEGIN
    SET @sql = N'ALTER ROLE [db_owner] ADD MEMBER ' + QUOTENAME(@user);
    EXEC sys.sp_executesql @sql;
END;
