import {MetricsPanel} from '../features/metrics/MetricsPanel'

const sections = [
  {
    title: 'Projects',
    description: 'プロジェクトのステータス管理（作成・開始・保留・再開・完了・中止）を確認する画面です。',
  },
  {
    title: 'Timesheets',
    description: '工数の登録・提出・承認・差戻しのワークフローを操作し、承認イベントの発行を確認します。',
  },
  {
    title: 'Compliance',
    description: '電子取引（インボイス）の検索・並び替え・添付ファイルのダウンロードを確認する画面です。',
  },
  {
    title: 'Telemetry',
    description: 'UI とサーバが送る Telemetry イベントを一覧し、フォールバック状況を可視化します。',
  },
]

export function Overview() {
  return (
    <div className="stack">
      <section className="card">
        <h2>UI PoC 概要</h2>
        <p>
          poc スタックの Web UI です。上のナビゲーションから Projects / Timesheets / Compliance / Telemetry
          の各画面を開けます。データはこのサーバ経由で pm から取得します（<code>/api</code>,{' '}
          <code>/graphql</code>）。
        </p>
        <p className="muted">
          pm
          が応答しないときは、最後に取得したデータ（なければ同梱のサンプルデータ）を表示し、その旨をバッジで示します。
        </p>
      </section>
      <div className="grid grid-4">
        {sections.map((section) => (
          <div className="card" key={section.title}>
            <h3>{section.title}</h3>
            <p className="muted small">{section.description}</p>
          </div>
        ))}
      </div>
      <MetricsPanel />
    </div>
  )
}
