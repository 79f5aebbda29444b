//! The command line: migrate, check-config, help.

mod common;

use common::{Backend, TestDatabase, run_cli};

#[test]
fn migrate_creates_the_schema_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path());
        let (ok, stdout, stderr) = run_cli(&["migrate"], &[("DATABASE_URL", &db.url)]);
        assert!(ok, "{stderr}");
        assert!(stdout.contains("migrations applied"), "{stdout}");
        assert_eq!(db.verdict_rows(), 0);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM judges"), 0);
        // Idempotent.
        let (ok, _, stderr) = run_cli(&["migrate"], &[("DATABASE_URL", &db.url)]);
        assert!(ok, "{stderr}");
    }
}

#[test]
fn check_config_accepts_a_valid_file_and_names_what_is_wrong_in_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[limits]\nmax_items = 64\n[judges.r]\nkind = \"refusal\"\n[tasks.t]\njudges = [\"r\"]\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run_cli(
        &["check-config", "--config", good.to_str().unwrap()],
        &[
            ("MOJ_DATA_DIR", &data),
            ("MOJ_ADMIN_KEYS", "secret-admin-key"),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("max_items = 64"), "{stdout}");
    assert!(stdout.contains("1 judge(s) and 1 task(s)"), "{stdout}");
    assert!(
        !stdout.contains("secret-admin-key"),
        "keys are redacted: {stdout}"
    );

    let cases = [
        ("[limits]\nmax_itemz = 1\n", "max_itemz"),
        (
            "[judges.r]\nkind = \"regex\"\nconfig = { must_match = [\"(\"] }\n",
            "judges.r.config.must_match[0]",
        ),
        ("[judges.r]\nkind = \"oracle\"\n", "judges.r.kind"),
        ("[tasks.t]\njudges = [\"ghost\"]\n", "tasks.t.judges"),
        // A task naming a judge twice would make every request naming it fail.
        (
            "[judges.r]\nkind = \"refusal\"\n[tasks.t]\njudges = [\"r\", \"r\"]\n",
            "judges[1]: judge \"r\" is listed twice",
        ),
        ("[judges.\"a/b\"]\nkind = \"refusal\"\n", "judges.a/b"),
        ("not toml at all = = =", "parsing config file"),
    ];
    for (text, needle) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let (ok, _, stderr) = run_cli(
            &["check-config", "--config", path.to_str().unwrap()],
            &[("MOJ_DATA_DIR", &data)],
        );
        assert!(!ok, "{text} was accepted");
        assert!(
            stderr.contains(needle),
            "{text}: expected {needle:?} in {stderr}"
        );
    }
}

#[test]
fn help_lists_the_commands() {
    let (ok, stdout, _) = run_cli(&["--help"], &[]);
    assert!(ok);
    for command in ["serve", "migrate", "check-config"] {
        assert!(stdout.contains(command), "{stdout}");
    }
}
