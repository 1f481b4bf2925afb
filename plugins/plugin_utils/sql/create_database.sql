-- hpcops.aws_hpc: create one HPC database, or attach it from the files it already has
-- (seed 000's CreateHpcDatabase.sql, with the same sizes and growth).
-- Parameters, bound by SqlClient and never spliced into this text by the caller:
--   @db_name, @data_file, @log_file, @data_size_mb, @data_growth, @log_size_mb, @log_growth,
--   @mode: 'create', 'attach' (both files exist) or 'attach_rebuild_log' (only the data file exists).
-- A database whose data file exists is never created anew: 'create' refuses when the file exists.
DECLARE @data_exists INT;
DECLARE @sql NVARCHAR(MAX);
EXEC master.dbo.xp_fileexist @data_file, @data_exists OUTPUT;
IF PATINDEX(N'%[^0-9A-Za-z%]%', @data_growth + @log_growth) > 0
BEGIN
    RAISERROR (N'file growth must be a number with an optional %%, KB, MB or GB suffix', 16, 1);
    RETURN;
END;
IF @mode = N'create' AND @data_exists = 1
BEGIN
    RAISERROR (N'refusing to create the database anew: its data file already exists (it is attached instead)', 16, 1);
    RETURN;
END;
IF @mode <> N'create' AND @data_exists = 0
BEGIN
    RAISERROR (N'cannot attach the database: its data file does not exist', 16, 1);
    RETURN;
END;
IF DB_ID(@db_name) IS NULL
BEGIN
    SET @sql = N'CREATE DATABASE ' + QUOTENAME(@db_name) + N' ON (';
    IF @mode = N'create'
        SET @sql = @sql + N'NAME = ' + QUOTENAME(@db_name + N'_data') + N', ';
    SET @sql = @sql + N'FILENAME = N''' + REPLACE(@data_file, N'''', N'''''') + N'''';
    IF @mode = N'create'
        SET @sql = @sql + N', SIZE = ' + CAST(@data_size_mb AS NVARCHAR(20)) + N'MB, FILEGROWTH = ' + @data_growth;
    SET @sql = @sql + N')';
    IF @mode <> N'attach_rebuild_log'
    BEGIN
        SET @sql = @sql + N' LOG ON (';
        IF @mode = N'create'
            SET @sql = @sql + N'NAME = ' + QUOTENAME(@db_name + N'_log') + N', ';
        SET @sql = @sql + N'FILENAME = N''' + REPLACE(@log_file, N'''', N'''''') + N'''';
        IF @mode = N'create'
            SET @sql = @sql + N', SIZE = ' + CAST(@log_size_mb AS NVARCHAR(20)) + N'MB, FILEGROWTH = ' + @log_growth;
        SET @sql = @sql + N')';
    END;
    IF @mode = N'attach'
        SET @sql = @sql + N' FOR ATTACH';
    IF @mode = N'attach_rebuild_log'
        SET @sql = @sql + N' FOR ATTACH_REBUILD_LOG';
    EXEC sys.sp_executesql @sql;
END;
