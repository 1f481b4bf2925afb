-- hpcops.aws_hpc win_hpc_sqlserver apply: one of HPC Pack's error messages (DefineErrorMessages.sql, run by the
-- reference deployment's setuphpcdatabase.ps1 in the SQL Server step). sp_addmessage needs sysadmin or
-- serveradmin (learn.microsoft.com sql/relational-databases/system-stored-procedures/sp-addmessage-transact-sql),
-- which the login HPC Pack setup connects with (db_owner) does not have.
-- Idempotent: a message that exists with the same severity and text is left alone; one that differs is replaced
-- (@replace = 'replace'), instead of the reference script's sp_dropmessage + sp_addmessage on every run.
-- Parameters, bound by SqlClient: @msgnum, @severity, @msgtext.
DECLARE @replace VARCHAR(7);
IF EXISTS (SELECT 1 FROM sys.messages AS m WHERE m.message_id = @msgnum AND m.language_id = 1033)
    SET @replace = 'replace';
IF NOT EXISTS (
    SELECT 1 FROM sys.messages AS m
    WHERE m.message_id = @msgnum AND m.language_id = 1033 AND m.severity = @severity AND m.text = @msgtext
)
BEGIN
    EXEC sys.sp_addmessage @msgnum = @msgnum, @severity = @severity, @msgtext = @msgtext, @lang = N'us_english',
        @replace = @replace;
END;
