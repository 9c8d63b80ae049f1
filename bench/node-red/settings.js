// Node-RED settings for make bench (bench/bench-latency.sh): headless, on a
// port and in a user directory the bench chooses, nothing fetched or offered.
module.exports = {
    uiHost: '127.0.0.1',
    uiPort: parseInt(process.env.BENCH_NODERED_PORT || '1880', 10),
    // No editor and no admin API; no HTTP nodes either.
    httpAdminRoot: false,
    httpNodeRoot: false,
    userDir: process.env.BENCH_NODERED_USERDIR,
    flowFile: 'flow.json',
    credentialSecret: false,
    functionExternalModules: false,
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    exportGlobalContextKeys: false,
};
