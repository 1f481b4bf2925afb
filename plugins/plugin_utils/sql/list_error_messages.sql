-- hpcops.aws_hpc win_hpc_sqlserver probe: the user-defined messages of the instance in us_english
-- (language_id 1033), which is where HPC Pack's DefineErrorMessages.sql puts its messages; user-defined
-- message numbers start at 50001 (learn.microsoft.com sql/relational-databases/system-stored-procedures/
-- sp-addmessage-transact-sql).
SELECT m.message_id, m.severity, m.text
FROM sys.messages AS m
WHERE m.language_id = 1033 AND m.message_id > 50000
ORDER BY m.message_id;
