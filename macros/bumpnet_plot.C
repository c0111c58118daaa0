/// \file bumpnet_plot.C
/// Draw a histogram with BumpNet's background estimate (top, log y) and Z
/// per bin (bottom), and save the canvas as PDF and PNG.
///
///     root -l -b -q 'macros/bumpnet_plot.C("file.root", "demo/GMmass_extended", "out")'
///
/// or, after `.L macros/bumpnet_plot.C` (also from PyROOT):
///
///     TCanvas *c = bumpnet_plot(h, "out");   // h: any 1-D TH1 in memory
///
/// The scan runs as in bumpnet_scan.C (same environment variables, same way to
/// Python) and writes its files into the output directory. The background
/// estimate is the `background` array of the histogram's entry in
/// OUTDIR/summary.json, so the plot shows what the Python side computed. Bins
/// outside the scanned range (null there) are not drawn. The files are
/// OUTDIR/<name>_bumpnet.pdf and .png, where <name> is the histogram's path
/// with characters other than letters, digits and `_.+-` replaced by `_`.

#ifndef BUMPNET_PLOT_C
#define BUMPNET_PLOT_C

#include "bumpnet_scan.C"

#include "TCanvas.h"
#include "TGraph.h"
#include "TLegend.h"
#include "TLine.h"
#include "TPad.h"
#include "TStyle.h"

namespace bumpnet_detail {

/// Default of `bumpnet scan --threshold`, the local significance above which
/// the scan reports a candidate. The Z pad shows it as a dashed line.
constexpr double kPlotThreshold = 3.0;

/// Returns a graph that draws `background` as steps over the bins of `h`
/// where it is finite.
inline TGraph *BackgroundSteps(const TH1 *h, const std::vector<double> &background)
{
   auto *graph = new TGraph();
   graph->SetName("bumpnet_background");
   graph->SetTitle("BumpNet background estimate");
   for (int bin = 1; bin <= h->GetNbinsX(); ++bin) {
      const double value = background[bin - 1];
      if (!std::isfinite(value))
         continue;
      graph->AddPoint(h->GetXaxis()->GetBinLowEdge(bin), value);
      graph->AddPoint(h->GetXaxis()->GetBinUpEdge(bin), value);
   }
   return graph;
}

/// Draws data, background and Z on a new canvas and saves it as
/// OUTDIR/<SafeName(key)>_bumpnet.pdf and .png. The canvas owns what it draws.
inline TCanvas *DrawScan(TH1 *h, TH1D *z, const std::string &outdir, const std::string &key,
                         const char *location)
{
   const std::string summary = (std::filesystem::path(outdir) / "summary.json").string();
   std::vector<double> background;
   std::string error;
   if (!ReadJsonArray(summary, "key", key, "background", background, error)) {
      Error(location, "%s", error.c_str());
      return nullptr;
   }
   if (static_cast<int>(background.size()) != h->GetNbinsX()) {
      Error(location, "%s: the background of %s has %zu bins, the histogram %d", summary.c_str(), key.c_str(),
            background.size(), h->GetNbinsX());
      return nullptr;
   }

   const std::string name = SafeName(key);
   auto *canvas = new TCanvas((name + "_bumpnet").c_str(), h->GetTitle(), 800, 700);
   auto *top = new TPad("top", "data and background", 0.0, 0.3, 1.0, 1.0);
   auto *bottom = new TPad("bottom", "Z per bin", 0.0, 0.0, 1.0, 0.3);
   top->SetBottomMargin(0.02);
   bottom->SetTopMargin(0.02);
   bottom->SetBottomMargin(0.3);
   for (TPad *pad : {top, bottom}) {
      pad->SetBit(kCanDelete);
      pad->SetLeftMargin(0.12);
      canvas->cd();
      pad->Draw();
   }

   top->cd();
   top->SetLogy();
   TH1 *data = h->DrawCopy("E1");
   data->SetName((name + "_data").c_str());
   data->SetStats(kFALSE);
   data->SetMarkerStyle(20);
   data->SetMarkerSize(0.6);
   data->GetXaxis()->SetLabelSize(0);
   data->GetYaxis()->SetTitle("Events / bin");
   data->GetYaxis()->SetTitleSize(0.05);
   data->GetYaxis()->SetTitleOffset(1.1);
   const double smallest = data->GetMinimum(0.0);
   if (smallest > 0)
      data->SetMinimum(0.5 * smallest);
   TGraph *steps = BackgroundSteps(h, background);
   steps->SetBit(kCanDelete);
   steps->SetLineColor(kRed + 1);
   steps->SetLineWidth(2);
   steps->Draw("L");

   const int maxBin = z->GetMaximumBin();
   auto *legend = new TLegend(0.55, 0.72, 0.89, 0.89);
   legend->SetBit(kCanDelete);
   legend->SetBorderSize(0);
   legend->SetFillStyle(0);
   legend->AddEntry(data, "data", "lep");
   legend->AddEntry(steps, "BumpNet background", "l");
   legend->AddEntry(static_cast<TObject *>(nullptr),
                    TString::Format("Z_{max} = %.2f at %g", z->GetBinContent(maxBin), z->GetBinCenter(maxBin)), "");
   legend->Draw();

   bottom->cd();
   TH1 *zDrawn = z->DrawCopy("HIST");
   zDrawn->SetStats(kFALSE);
   zDrawn->SetTitle("");
   zDrawn->SetLineColor(kAzure + 2);
   zDrawn->SetFillColor(kAzure - 9);
   zDrawn->GetYaxis()->SetTitle("Z");
   zDrawn->GetXaxis()->SetTitle(h->GetXaxis()->GetTitle());
   for (TAxis *axis : {zDrawn->GetXaxis(), zDrawn->GetYaxis()}) {
      axis->SetLabelSize(0.1);
      axis->SetTitleSize(0.11);
   }
   zDrawn->GetYaxis()->SetTitleOffset(0.45);
   zDrawn->GetYaxis()->SetNdivisions(505);
   zDrawn->SetMinimum(std::min(0.0, z->GetMinimum()));
   zDrawn->SetMaximum(std::max(kPlotThreshold, z->GetMaximum()) * 1.15);
   auto *line = new TLine(z->GetXaxis()->GetXmin(), kPlotThreshold, z->GetXaxis()->GetXmax(), kPlotThreshold);
   line->SetBit(kCanDelete);
   line->SetLineStyle(kDashed);
   line->SetLineColor(kGray + 2);
   line->Draw();

   canvas->cd();
   canvas->Update();
   for (const char *extension : {".pdf", ".png"}) {
      const std::string file = (std::filesystem::path(outdir) / (name + "_bumpnet" + extension)).string();
      canvas->SaveAs(file.c_str());
   }
   return canvas;
}

} // namespace bumpnet_detail

/// Scans `h` and draws it. Returns the canvas, which the caller owns, or
/// nullptr on failure. `outdir` receives the scan's files and the PDF and PNG.
TCanvas *bumpnet_plot(TH1 *h, const char *outdir = "bumpnet-plots")
{
   if (!outdir || !*outdir) {
      Error("bumpnet_plot", "an output directory is needed for summary.json and the plots");
      return nullptr;
   }
   std::unique_ptr<TH1D> z(bumpnet_scan(h, outdir));
   if (!z)
      return nullptr;
   return bumpnet_detail::DrawScan(h, z.get(), outdir, bumpnet_detail::SafeName(h->GetName()), "bumpnet_plot");
}

/// Scans the histogram at path `histname` in `file` and saves its plot.
/// Returns the exit status for `root -q`: 0 on success, else 1.
int bumpnet_plot(const char *file, const char *histname, const char *outdir = "bumpnet-plots")
{
   const char *location = "bumpnet_plot";
   if (!file || !histname || !outdir || !*outdir) {
      Error(location, "pass a file, a histogram path and an output directory");
      return 1;
   }
   std::unique_ptr<TH1> h;
   {
      TDirectory::TContext restoreDirectory;
      std::unique_ptr<TFile> input(TFile::Open(file, "READ"));
      if (!input || input->IsZombie()) {
         Error(location, "cannot open %s", file);
         return 1;
      }
      auto *read = input->Get<TH1>(histname);
      if (!read) {
         Error(location, "%s contains no histogram named %s", file, histname);
         return 1;
      }
      h.reset(static_cast<TH1 *>(read->Clone()));
      h->SetDirectory(nullptr);
   }
   if (h->GetDimension() != 1) {
      Error(location, "%s has %d dimensions; project it to a 1-D histogram first", histname, h->GetDimension());
      return 1;
   }
   // Scanning the file (not the copy in memory) keeps the file's name in summary.json.
   std::unique_ptr<TList> zs(
      bumpnet_scan_file(file, bumpnet_detail::GlobEscape(histname).c_str(), outdir));
   auto *z = zs ? static_cast<TH1D *>(zs->FindObject(histname)) : nullptr;
   if (!z) {
      if (zs)
         Error(location, "the scan of %s returned no Z histogram for %s", file, histname);
      return 1;
   }
   std::unique_ptr<TCanvas> canvas(bumpnet_detail::DrawScan(h.get(), z, outdir, histname, location));
   return canvas ? 0 : 1;
}

/// Prints the usage. `root macros/bumpnet_plot.C` without arguments calls it.
int bumpnet_plot()
{
   printf("usage: root -l -b -q 'macros/bumpnet_plot.C(\"file.root\", \"histogram\", \"outdir\")'\n"
          "   or: .L macros/bumpnet_plot.C, then bumpnet_plot(h, \"outdir\") for a TH1* h\n");
   return 2;
}

#endif // BUMPNET_PLOT_C
